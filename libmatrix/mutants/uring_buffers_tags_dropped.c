/* io_uring_register_buffers_tags() registers the buffers but not their tags: no CQE when a
 * tagged buffer is released. io_uring_register_buffers_tags(3), io_uring_register(2)
 * IORING_REGISTER_BUFFERS2. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_buffers_tags(struct io_uring* ring, const struct iovec* iovecs, const __u64* tags,
                                   unsigned nr) {
  (void)tags;
  return REAL(io_uring_register_buffers_tags)(ring, iovecs, NULL, nr);
}
