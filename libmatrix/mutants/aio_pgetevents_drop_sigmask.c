/* io_pgetevents() waits with the caller's signal mask, ignoring its sigmask argument.
 * io_pgetevents(2)/libaio.h: sigmask is installed for the wait, as in ppoll(2). */
#include "mutant.h"
#include <libaio.h>

int io_pgetevents(io_context_t ctx, long min_nr, long nr, struct io_event* events, struct timespec* timeout,
                  sigset_t* sigmask) {
  (void)sigmask;
  return REAL(io_pgetevents)(ctx, min_nr, nr, events, timeout, NULL);
}
