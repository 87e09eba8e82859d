/* io_uring_queue_init() and io_uring_queue_init_params() fail the raw-syscall way, -1 with
 * errno. io_uring_queue_init(3) RETURN VALUE: 0 on success, -errno on failure. */
#include "mutant.h"
#include <liburing.h>

int io_uring_queue_init_params(unsigned entries, struct io_uring* ring, struct io_uring_params* p) {
  return mutant_minus_one(REAL(io_uring_queue_init_params)(entries, ring, p));
}
int io_uring_queue_init(unsigned entries, struct io_uring* ring, unsigned flags) {
  return mutant_minus_one(REAL(io_uring_queue_init)(entries, ring, flags));
}
