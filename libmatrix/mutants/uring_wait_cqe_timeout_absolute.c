/* io_uring_wait_cqe_timeout() reads its relative timeout as an absolute CLOCK_MONOTONIC
 * time, long past: the wait does not wait. io_uring_wait_cqe_timeout(3): ts is relative
 * (IORING_TIMEOUT_ABS is io_uring_prep_timeout's flag, not this call's). */
#include "mutant.h"
#include <liburing.h>
#include <time.h>

int io_uring_wait_cqe_timeout(struct io_uring* ring, struct io_uring_cqe** cqe_ptr,
                              struct __kernel_timespec* ts) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  struct __kernel_timespec left = {0, 0};
  if (ts && ts->tv_sec > now.tv_sec) left.tv_sec = ts->tv_sec - now.tv_sec;
  return REAL(io_uring_wait_cqe_timeout)(ring, cqe_ptr, ts ? &left : NULL);
}
