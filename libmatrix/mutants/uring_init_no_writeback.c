/* io_uring_queue_init_params() sets up the ring from a copy of params and never writes the
 * kernel's answer back (sq_entries, cq_entries, features stay as passed).
 * io_uring_queue_init_params(3) / io_uring_setup(2): the kernel fills in p. */
#include "mutant.h"
#include <liburing.h>

int io_uring_queue_init_params(unsigned entries, struct io_uring* ring, struct io_uring_params* p) {
  struct io_uring_params copy = *p;
  return REAL(io_uring_queue_init_params)(entries, ring, &copy);
}
