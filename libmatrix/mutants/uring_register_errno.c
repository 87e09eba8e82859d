/* io_uring_register() fails the raw-syscall way, -1 with errno.
 * liburing's io_uring_register(3) wrapper returns -errno (src/syscall.h __sys_io_uring_register). */
#include "mutant.h"
#include <liburing.h>

int io_uring_register(unsigned fd, unsigned opcode, const void* arg, unsigned nr_args) {
  return mutant_minus_one(REAL(io_uring_register)(fd, opcode, arg, nr_args));
}
