/* io_queue_wait() takes one completed event out of the ring (min_nr and nr of 1 where libaio
 * passes 0): the caller's next io_getevents() misses it. libaio src/io_queue_wait.c:
 * io_getevents(ctx, 0, 0, NULL, timeout), which reaps nothing. */
#include "mutant.h"
#include <libaio.h>

/* Exported (LIBAIO_0.4) but commented out of libaio.h. io_getevents goes through REAL(): an
 * unversioned reference from this shim would bind the LIBAIO_0.1 compat version, whose
 * arguments differ. */
int io_queue_wait(io_context_t ctx, struct timespec* timeout);

int io_queue_wait(io_context_t ctx, struct timespec* timeout) {
  struct io_event ev;
  int r = REAL(io_getevents)(ctx, 1, 1, &ev, timeout);
  return r > 0 ? 0 : r;
}
