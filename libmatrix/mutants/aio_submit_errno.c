/* io_submit() fails the raw-syscall way, -1 with errno.
 * io_submit(3) RETURN VALUE: a negated error number on failure (libaio.h), errno untouched. */
#include "mutant.h"
#include <libaio.h>

int io_submit(io_context_t ctx, long nr, struct iocb* ios[]) {
  return mutant_minus_one(REAL(io_submit)(ctx, nr, ios));
}
