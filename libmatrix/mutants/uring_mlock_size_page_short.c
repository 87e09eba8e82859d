/* io_uring_mlock_size() computes the rings' size one page short (a rounding that drops the last
 * page), where it computes at all. liburing src/setup.c rings_size(): a power-of-two page count
 * for the CQ ring and one for the SQEs. */
#include "mutant.h"
#include <liburing.h>
#include <unistd.h>

ssize_t io_uring_mlock_size(unsigned entries, unsigned flags) {
  ssize_t r = REAL(io_uring_mlock_size)(entries, flags);
  return r > 0 ? r - sysconf(_SC_PAGESIZE) : r;
}
