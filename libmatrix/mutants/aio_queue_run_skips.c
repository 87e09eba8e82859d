/* io_queue_run() returns 0 without reaping: no callback runs, the events stay in the ring.
 * io_queue_run(3): reaps the completed events and calls each iocb's io_set_callback() callback. */
#include "mutant.h"
#include <libaio.h>

int io_queue_run(io_context_t ctx) {
  (void)ctx;
  return 0;
}
