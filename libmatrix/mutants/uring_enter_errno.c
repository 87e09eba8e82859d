/* io_uring_enter() and io_uring_enter2() fail the raw-syscall way, -1 with errno.
 * liburing's io_uring_enter(3) wrapper returns -errno (src/syscall.h __sys_io_uring_enter). */
#include "mutant.h"
#include <liburing.h>

int io_uring_enter(unsigned fd, unsigned to_submit, unsigned min_complete, unsigned flags, sigset_t* sig) {
  return mutant_minus_one(REAL(io_uring_enter)(fd, to_submit, min_complete, flags, sig));
}
int io_uring_enter2(unsigned fd, unsigned to_submit, unsigned min_complete, unsigned flags, sigset_t* sig,
                    size_t sz) {
  return mutant_minus_one(REAL(io_uring_enter2)(fd, to_submit, min_complete, flags, sig, sz));
}
