/* io_uring_register_files_update() returns 0 on success instead of the number of slots it
 * updated (the kernel's count dropped as if it were a 0-on-success call).
 * io_uring_register_files_update(3) RETURN VALUE: the number of files updated. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_files_update(struct io_uring* ring, unsigned off, const int* files, unsigned nr_files) {
  int r = REAL(io_uring_register_files_update)(ring, off, files, nr_files);
  return r > 0 ? 0 : r;
}
