/* io_uring_submit() reports one SQE more than it handed to the kernel (counting the tail
 * slot). io_uring_submit(3) RETURN VALUE: the number of submitted entries. */
#include "mutant.h"
#include <liburing.h>

int io_uring_submit(struct io_uring* ring) {
  int r = REAL(io_uring_submit)(ring);
  return r >= 0 ? r + 1 : r;
}
