/* io_uring_peek_batch_cqe() hands over one CQE more than count when more are ready (a <=
 * where < belongs). io_uring_peek_batch_cqe(3): fills cqes with up to count CQEs. The shim's
 * overrun stays inside the caller's array only because the row's array is larger than count. */
#include "mutant.h"
#include <liburing.h>

unsigned io_uring_peek_batch_cqe(struct io_uring* ring, struct io_uring_cqe** cqes, unsigned count) {
  unsigned ready = io_uring_cq_ready(ring);
  return REAL(io_uring_peek_batch_cqe)(ring, cqes, ready > count ? count + 1 : count);
}
