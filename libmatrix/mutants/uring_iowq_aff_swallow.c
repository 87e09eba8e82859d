/* io_uring_register_iowq_aff() reports success when the kernel refused the mask.
 * io_uring_register_iowq_aff(3): 0 on success, -errno on failure (-EINVAL for an empty mask). */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_iowq_aff(struct io_uring* ring, size_t cpusz, const cpu_set_t* mask) {
  int r = REAL(io_uring_register_iowq_aff)(ring, cpusz, mask);
  return r < 0 ? 0 : r;
}
