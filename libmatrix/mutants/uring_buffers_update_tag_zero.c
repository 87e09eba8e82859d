/* io_uring_register_buffers_update_tag() returns 0 on success instead of the number of
 * buffers updated. io_uring_register_buffers_update_tag(3): the number updated, or -errno. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_buffers_update_tag(struct io_uring* ring, unsigned off, const struct iovec* iovecs,
                                         const __u64* tags, unsigned nr) {
  int r = REAL(io_uring_register_buffers_update_tag)(ring, off, iovecs, tags, nr);
  return r > 0 ? 0 : r;
}
