/* io_uring_queue_init_params() drops IORING_SETUP_CQSIZE: the CQ ring gets the default size.
 * io_uring_setup(2) IORING_SETUP_CQSIZE: the CQ ring has p->cq_entries entries. */
#include "mutant.h"
#include <liburing.h>

int io_uring_queue_init_params(unsigned entries, struct io_uring* ring, struct io_uring_params* p) {
  p->flags &= ~IORING_SETUP_CQSIZE;
  return REAL(io_uring_queue_init_params)(entries, ring, p);
}
