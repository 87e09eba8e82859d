/* io_uring_register_ring_fd() returns 0 on success instead of the count registered.
 * io_uring_register_ring_fd(3) RETURN VALUE: 1 on success (one ring fd registered). */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_ring_fd(struct io_uring* ring) {
  int r = REAL(io_uring_register_ring_fd)(ring);
  return r > 0 ? 0 : r;
}
