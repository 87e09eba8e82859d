/* io_uring_submit() reports one SQE fewer than it handed to the kernel (an off-by-one in the
 * tail arithmetic). io_uring_submit(3) RETURN VALUE: the number of submitted entries. */
#include "mutant.h"
#include <liburing.h>

int io_uring_submit(struct io_uring* ring) {
  int r = REAL(io_uring_submit)(ring);
  return r > 0 ? r - 1 : r;
}
