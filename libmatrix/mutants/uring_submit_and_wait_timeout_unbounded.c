/* io_uring_submit_and_wait_timeout() drops its timeout and waits without bound.
 * io_uring_submit_and_wait_timeout(3): waits for wait_nr CQEs or until ts expires. */
#include "mutant.h"
#include <liburing.h>

int io_uring_submit_and_wait_timeout(struct io_uring* ring, struct io_uring_cqe** cqe_ptr, unsigned wait_nr,
                                     struct __kernel_timespec* ts, sigset_t* sigmask) {
  (void)ts;
  return REAL(io_uring_submit_and_wait_timeout)(ring, cqe_ptr, wait_nr, NULL, sigmask);
}
