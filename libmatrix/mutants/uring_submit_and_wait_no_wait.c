/* io_uring_submit_and_wait() submits but does not wait for wait_nr completions.
 * io_uring_submit_and_wait(3): submits and waits for wait_nr completion events. */
#include "mutant.h"
#include <liburing.h>

int io_uring_submit_and_wait(struct io_uring* ring, unsigned wait_nr) {
  (void)wait_nr;
  return REAL(io_uring_submit_and_wait)(ring, 0);
}
