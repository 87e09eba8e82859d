/* io_uring_submit_and_get_events() submits like io_uring_submit() and forgets
 * IORING_ENTER_GETEVENTS: on a DEFER_TASKRUN ring the completions stay deferred.
 * io_uring_submit_and_get_events(3): submits and flushes completed events to the CQ ring. */
#include "mutant.h"
#include <liburing.h>

int io_uring_submit_and_get_events(struct io_uring* ring) {
  return io_uring_submit(ring);
}
