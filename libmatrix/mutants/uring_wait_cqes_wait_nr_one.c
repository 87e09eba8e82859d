/* io_uring_wait_cqes() returns as soon as one CQE is ready, whatever wait_nr asks.
 * io_uring_wait_cqes(3): waits for wait_nr CQEs (or the timeout). */
#include "mutant.h"
#include <liburing.h>

int io_uring_wait_cqes(struct io_uring* ring, struct io_uring_cqe** cqe_ptr, unsigned wait_nr,
                       struct __kernel_timespec* ts, sigset_t* sigmask) {
  return REAL(io_uring_wait_cqes)(ring, cqe_ptr, wait_nr > 1 ? 1 : wait_nr, ts, sigmask);
}
