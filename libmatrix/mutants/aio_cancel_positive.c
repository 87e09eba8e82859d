/* io_cancel() returns the positive errno on failure.
 * io_cancel(3) RETURN VALUE: 0 on success, a negated error number on failure. */
#include "mutant.h"
#include <libaio.h>

int io_cancel(io_context_t ctx, struct iocb* iocb, struct io_event* evt) {
  int r = REAL(io_cancel)(ctx, iocb, evt);
  return r < 0 ? -r : r;
}
