/* io_uring_mlock_size() reports a ring-size estimate (three pages) where the kernel charges
 * rings to no memlock limit (the IORING_FEAT_NATIVE_WORKERS check lost). liburing src/setup.c
 * io_uring_mlock_size_params(): 0 on such kernels. */
#include "mutant.h"
#include <liburing.h>
#include <unistd.h>

ssize_t io_uring_mlock_size(unsigned entries, unsigned flags) {
  ssize_t r = REAL(io_uring_mlock_size)(entries, flags);
  return r == 0 ? 3 * sysconf(_SC_PAGESIZE) : r;
}
