/* io_queue_run() runs the callbacks but reports 0 events handled.
 * io_queue_run(3) RETURN VALUE: the number of events processed. */
#include "mutant.h"
#include <libaio.h>

int io_queue_run(io_context_t ctx) {
  int r = REAL(io_queue_run)(ctx);
  return r > 0 ? 0 : r;
}
