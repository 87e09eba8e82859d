/* io_uring_mlock_size_params() answers a refusal as -1 with errno set instead of -errno.
 * liburing src/setup.c: -EINVAL for 0 entries; io_uring_mlock_size() returns its answer. */
#include "mutant.h"
#include <liburing.h>

ssize_t io_uring_mlock_size_params(unsigned entries, struct io_uring_params* p) {
  ssize_t r = REAL(io_uring_mlock_size_params)(entries, p);
  if (r < 0) {
    errno = (int)-r;
    return -1;
  }
  return r;
}
