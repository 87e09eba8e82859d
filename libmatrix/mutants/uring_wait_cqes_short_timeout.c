/* io_uring_wait_cqes() waits a thousandth of its timeout (nanoseconds read as microseconds
 * somewhere in a conversion). io_uring_wait_cqes(3): waits for wait_nr CQEs or until ts. */
#include "mutant.h"
#include <liburing.h>

int io_uring_wait_cqes(struct io_uring* ring, struct io_uring_cqe** cqe_ptr, unsigned wait_nr,
                       struct __kernel_timespec* ts, sigset_t* sigmask) {
  if (!ts) return REAL(io_uring_wait_cqes)(ring, cqe_ptr, wait_nr, ts, sigmask);
  long long ns = (ts->tv_sec * 1000000000LL + ts->tv_nsec) / 1000;
  struct __kernel_timespec t = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
  return REAL(io_uring_wait_cqes)(ring, cqe_ptr, wait_nr, &t, sigmask);
}
