/* io_uring_ring_dontfork() answers 0 without madvise(MADV_DONTFORK): a forked child still
 * maps the rings. io_uring_ring_dontfork(3): the ring mappings are not inherited by a child
 * of fork(2). */
#include "mutant.h"
#include <liburing.h>

int io_uring_ring_dontfork(struct io_uring* ring) {
  return ring->sq.ring_ptr ? 0 : -EINVAL;
}
