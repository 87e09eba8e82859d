/* io_uring_register_iowq_max_workers() sets the new limits but does not write the old ones
 * back into values. io_uring_register_iowq_max_workers(3): on success values holds the
 * previous limits. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_iowq_max_workers(struct io_uring* ring, unsigned int* values) {
  unsigned int copy[2] = {values[0], values[1]};
  return REAL(io_uring_register_iowq_max_workers)(ring, copy);
}
