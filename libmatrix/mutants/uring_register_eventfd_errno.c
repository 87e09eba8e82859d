/* io_uring_register_eventfd() fails the raw-syscall way, -1 with errno.
 * io_uring_register_eventfd(3) RETURN VALUE: 0 on success, -errno on failure. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_eventfd(struct io_uring* ring, int fd) {
  return mutant_minus_one(REAL(io_uring_register_eventfd)(ring, fd));
}
