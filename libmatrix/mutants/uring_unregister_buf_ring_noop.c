/* io_uring_unregister_buf_ring() answers 0 without unregistering.
 * io_uring_unregister_buf_ring(3): -errno on failure (-EINVAL for a group not registered). */
#include "mutant.h"
#include <liburing.h>

int io_uring_unregister_buf_ring(struct io_uring* ring, int bgid) {
  (void)ring;
  (void)bgid;
  return 0;
}
