/* io_getevents() waits a thousand times its timeout (milliseconds read as seconds).
 * io_getevents(2): returns when the timeout expires with fewer than min_nr events. */
#include "mutant.h"
#include <libaio.h>

int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event* events, struct timespec* timeout) {
  if (!timeout) return REAL(io_getevents)(ctx, min_nr, nr, events, timeout);
  long long ns = timeout->tv_sec * 1000000000LL + timeout->tv_nsec;
  struct timespec t = {.tv_sec = ns / 1000000LL, .tv_nsec = 0};
  return REAL(io_getevents)(ctx, min_nr, nr, events, &t);
}
