/* io_queue_release() answers 0 and releases nothing.
 * io_queue_release(3): destroys the context (io_destroy); a second release is -EINVAL. */
#include "mutant.h"
#include <libaio.h>

int io_queue_release(io_context_t ctx) {
  (void)ctx;
  return 0;
}
