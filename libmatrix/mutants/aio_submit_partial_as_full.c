/* io_submit() reports all nr iocbs queued when the kernel took only some.
 * io_submit(3) RETURN VALUE: the number of iocbs submitted (which may be less than nr). */
#include "mutant.h"
#include <libaio.h>

int io_submit(io_context_t ctx, long nr, struct iocb* ios[]) {
  int r = REAL(io_submit)(ctx, nr, ios);
  return r > 0 && r < nr ? (int)nr : r;
}
