/* io_uring_unregister_eventfd() answers 0 and leaves the eventfd registered.
 * io_uring_unregister_eventfd(3): -errno on failure (-ENXIO when none is registered). */
#include "mutant.h"
#include <liburing.h>

int io_uring_unregister_eventfd(struct io_uring* ring) {
  (void)ring;
  return 0;
}
