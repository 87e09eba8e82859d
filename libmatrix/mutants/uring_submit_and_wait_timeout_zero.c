/* io_uring_submit_and_wait_timeout() returns 0 once it has waited, not the number of SQEs
 * it submitted. io_uring_submit_and_wait_timeout(3) RETURN VALUE: the number of submitted
 * submission queue entries. */
#include "mutant.h"
#include <liburing.h>

int io_uring_submit_and_wait_timeout(struct io_uring* ring, struct io_uring_cqe** cqe_ptr, unsigned wait_nr,
                                     struct __kernel_timespec* ts, sigset_t* sigmask) {
  int r = REAL(io_uring_submit_and_wait_timeout)(ring, cqe_ptr, wait_nr, ts, sigmask);
  return r > 0 ? 0 : r;
}
