/* io_uring_register_file_alloc_range() passes off and len the wrong way round to the kernel.
 * io_uring_register_file_alloc_range(3): direct-descriptor allocation uses the slots
 * [off, off + len). */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_file_alloc_range(struct io_uring* ring, unsigned off, unsigned len) {
  return REAL(io_uring_register_file_alloc_range)(ring, len, off);
}
