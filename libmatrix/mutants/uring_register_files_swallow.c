/* io_uring_register_files() reports success when the kernel refused the table.
 * io_uring_register_files(3) RETURN VALUE: 0 on success, -errno on failure. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_files(struct io_uring* ring, const int* files, unsigned nr) {
  int r = REAL(io_uring_register_files)(ring, files, nr);
  return r < 0 ? 0 : r;
}
