/* io_uring_setup() (liburing's exported wrapper) answers a failure as -1 with errno set, the
 * raw syscall's convention, where liburing documents -errno. io_uring_setup(2) as liburing 2.3
 * exports it: the ring fd or -errno. */
#include "mutant.h"
#include <liburing.h>

int io_uring_setup(unsigned entries, struct io_uring_params* p) {
  return mutant_minus_one(REAL(io_uring_setup)(entries, p));
}
