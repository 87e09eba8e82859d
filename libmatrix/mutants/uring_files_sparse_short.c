/* io_uring_register_files_sparse() registers one slot fewer than asked (an off-by-one in a
 * count). io_uring_register_files_sparse(3): registers a table of nr empty slots. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_files_sparse(struct io_uring* ring, unsigned nr) {
  return REAL(io_uring_register_files_sparse)(ring, nr > 1 ? nr - 1 : nr);
}
