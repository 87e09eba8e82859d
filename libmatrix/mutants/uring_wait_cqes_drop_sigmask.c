/* io_uring_wait_cqes() ignores its sigmask (waits with the caller's mask).
 * io_uring_wait_cqes(3): sigmask is installed for the wait, as in pselect(2)/ppoll(2). */
#include "mutant.h"
#include <liburing.h>

int io_uring_wait_cqes(struct io_uring* ring, struct io_uring_cqe** cqe_ptr, unsigned wait_nr,
                       struct __kernel_timespec* ts, sigset_t* sigmask) {
  (void)sigmask;
  return REAL(io_uring_wait_cqes)(ring, cqe_ptr, wait_nr, ts, NULL);
}
