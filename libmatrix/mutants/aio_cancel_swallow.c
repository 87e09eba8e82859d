/* io_cancel() answers 0 (cancelled) whatever the kernel said.
 * io_cancel(2) ERRORS: EAGAIN (not cancelled), EINVAL (no such iocb), EFAULT. */
#include "mutant.h"
#include <libaio.h>

int io_cancel(io_context_t ctx, struct iocb* iocb, struct io_event* evt) {
  int r = REAL(io_cancel)(ctx, iocb, evt);
  return r < 0 ? 0 : r;
}
