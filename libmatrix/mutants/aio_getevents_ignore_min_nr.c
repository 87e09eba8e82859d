/* io_getevents() returns what is ready at once, whatever min_nr asks.
 * io_getevents(2)/(3): waits for at least min_nr events (or the timeout). */
#include "mutant.h"
#include <libaio.h>

int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event* events, struct timespec* timeout) {
  (void)min_nr;
  static struct timespec zero;
  return REAL(io_getevents)(ctx, 0, nr, events, timeout ? &zero : timeout);
}
