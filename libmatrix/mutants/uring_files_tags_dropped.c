/* io_uring_register_files_tags() registers the files but not their tags (the tags pointer
 * not copied into struct io_uring_rsrc_register): no CQE when a tagged file is released.
 * io_uring_register_files_tags(3), io_uring_register(2) IORING_REGISTER_FILES2. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_files_tags(struct io_uring* ring, const int* files, const __u64* tags, unsigned nr) {
  (void)tags;
  return REAL(io_uring_register_files_tags)(ring, files, NULL, nr);
}
