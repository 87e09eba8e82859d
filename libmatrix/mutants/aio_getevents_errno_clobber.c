/* io_getevents() succeeds but leaves errno changed (EINTR, as a wrapper that forgot to save
 * errno around syscall(2) would). libaio.h: results are returned, errno is not used. */
#include "mutant.h"
#include <libaio.h>

int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event* events, struct timespec* timeout) {
  int r = REAL(io_getevents)(ctx, min_nr, nr, events, timeout);
  errno = EINTR;
  return r;
}
