/* io_uring_wait_cqes() returns +ETIME on expiry (the sign lost).
 * io_uring_wait_cqes(3) RETURN VALUE: 0 on success, -errno on failure (-ETIME). */
#include "mutant.h"
#include <liburing.h>

int io_uring_wait_cqes(struct io_uring* ring, struct io_uring_cqe** cqe_ptr, unsigned wait_nr,
                       struct __kernel_timespec* ts, sigset_t* sigmask) {
  int r = REAL(io_uring_wait_cqes)(ring, cqe_ptr, wait_nr, ts, sigmask);
  return r == -ETIME ? ETIME : r;
}
