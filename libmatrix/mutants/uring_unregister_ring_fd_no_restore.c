/* io_uring_unregister_ring_fd() unregisters the ring's index but leaves ring->enter_ring_fd
 * and INT_FLAG_REG_RING as they were (the write-back skipped): the next enter names a slot
 * that is gone. io_uring_unregister_ring_fd(3): the ring goes back to entering by its fd. */
#include "mutant.h"
#include <liburing.h>

int io_uring_unregister_ring_fd(struct io_uring* ring) {
  struct io_uring_rsrc_update up = {.offset = (unsigned)ring->enter_ring_fd};
  return io_uring_register((unsigned)ring->ring_fd, IORING_UNREGISTER_RING_FDS, &up, 1);
}
