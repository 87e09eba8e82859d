/* io_uring_get_events() returns 0 without entering the kernel: deferred task work and
 * overflowed CQEs stay where they are. io_uring_get_events(3): flushes them to the CQ ring. */
#include "mutant.h"
#include <liburing.h>

int io_uring_get_events(struct io_uring* ring) {
  (void)ring;
  return 0;
}
