/* io_getevents() waits a thousandth of its timeout (tv_nsec read as microseconds).
 * io_getevents(2): timeout is a struct timespec, as in nanosleep(2). */
#include "mutant.h"
#include <libaio.h>

int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event* events, struct timespec* timeout) {
  if (!timeout) return REAL(io_getevents)(ctx, min_nr, nr, events, timeout);
  long long ns = (timeout->tv_sec * 1000000000LL + timeout->tv_nsec) / 1000;
  struct timespec t = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
  return REAL(io_getevents)(ctx, min_nr, nr, events, &t);
}
