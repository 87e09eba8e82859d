/* io_uring_unregister_personality() answers 0 without unregistering anything.
 * io_uring_unregister_personality(3): -errno on failure, e.g. an id never registered. */
#include "mutant.h"
#include <liburing.h>

int io_uring_unregister_personality(struct io_uring* ring, int id) {
  (void)ring;
  (void)id;
  return 0;
}
