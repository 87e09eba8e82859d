/* io_getevents() treats a NULL timeout as a zero one (a poll) instead of waiting forever.
 * io_getevents(2): a NULL timeout waits until min_nr events are available. */
#include "mutant.h"
#include <libaio.h>

int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event* events, struct timespec* timeout) {
  static struct timespec zero;
  return REAL(io_getevents)(ctx, min_nr, nr, events, timeout ? timeout : &zero);
}
