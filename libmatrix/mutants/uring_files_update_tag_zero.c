/* io_uring_register_files_update_tag() returns 0 on success instead of the number of slots
 * updated. io_uring_register_files_update_tag(3) RETURN VALUE: the number of files updated. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_files_update_tag(struct io_uring* ring, unsigned off, const int* files, const __u64* tags,
                                       unsigned nr_files) {
  int r = REAL(io_uring_register_files_update_tag)(ring, off, files, tags, nr_files);
  return r > 0 ? 0 : r;
}
