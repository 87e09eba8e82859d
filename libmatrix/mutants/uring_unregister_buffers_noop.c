/* io_uring_unregister_buffers() answers 0 without unregistering.
 * io_uring_unregister_buffers(3): -errno on failure (-ENXIO when none are registered). */
#include "mutant.h"
#include <liburing.h>

int io_uring_unregister_buffers(struct io_uring* ring) {
  (void)ring;
  return 0;
}
