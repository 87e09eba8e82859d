/* io_uring_register_buffers_sparse() registers one slot fewer than asked (an off-by-one in a
 * count). io_uring_register_buffers_sparse(3): registers a table of nr empty buffer slots. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_buffers_sparse(struct io_uring* ring, unsigned nr) {
  return REAL(io_uring_register_buffers_sparse)(ring, nr > 1 ? nr - 1 : nr);
}
