/* io_setup() answers 0 when the kernel refused, leaving *ctxp as it was.
 * io_setup(2) ERRORS: EAGAIN (aio-max-nr), EINVAL (ctx_idp not zeroed, nr_events 0 or too
 * big), EFAULT; io_setup(3): the negated errno. */
#include "mutant.h"
#include <libaio.h>

int io_setup(int maxevents, io_context_t* ctxp) {
  int r = REAL(io_setup)(maxevents, ctxp);
  return r < 0 ? 0 : r;
}
