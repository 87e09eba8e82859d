/* io_submit() answers 0 (nothing queued) where the kernel refused the first iocb.
 * io_submit(3) RETURN VALUE / ERRORS: the negated error number (EBADF, EINVAL, ...). */
#include "mutant.h"
#include <libaio.h>

int io_submit(io_context_t ctx, long nr, struct iocb* ios[]) {
  int r = REAL(io_submit)(ctx, nr, ios);
  return r < 0 ? 0 : r;
}
