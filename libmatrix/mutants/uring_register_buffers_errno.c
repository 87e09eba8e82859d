/* io_uring_register_buffers() fails the raw-syscall way, -1 with errno.
 * io_uring_register_buffers(3) RETURN VALUE: 0 on success, -errno on failure. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_buffers(struct io_uring* ring, const struct iovec* iovecs, unsigned nr) {
  return mutant_minus_one(REAL(io_uring_register_buffers)(ring, iovecs, nr));
}
