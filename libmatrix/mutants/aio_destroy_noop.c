/* io_destroy() answers 0 and destroys nothing.
 * io_destroy(2): removes the context, cancels its requests; a later call with it is EINVAL. */
#include "mutant.h"
#include <libaio.h>

int io_destroy(io_context_t ctx) {
  (void)ctx;
  return 0;
}
