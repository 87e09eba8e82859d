/* __io_uring_get_cqe() (behind io_uring_wait_cqe and io_uring_wait_cqe_nr) never waits:
 * with nothing ready it returns -EAGAIN as a peek would. io_uring_wait_cqe(3): waits for
 * a CQE; io_uring_peek_cqe(3) is the call that returns -EAGAIN. */
#include "mutant.h"
#include <liburing.h>

int __io_uring_get_cqe(struct io_uring* ring, struct io_uring_cqe** cqe_ptr, unsigned submit,
                       unsigned wait_nr, sigset_t* sigmask) {
  (void)wait_nr;
  return REAL(__io_uring_get_cqe)(ring, cqe_ptr, submit, 0, sigmask);
}
