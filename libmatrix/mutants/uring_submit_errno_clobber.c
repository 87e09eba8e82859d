/* io_uring_submit() succeeds but leaves errno changed (EAGAIN from an internal retry it did
 * not restore). liburing(7): the library returns -errno and does not use errno. */
#include "mutant.h"
#include <liburing.h>

int io_uring_submit(struct io_uring* ring) {
  int r = REAL(io_uring_submit)(ring);
  errno = EAGAIN;
  return r;
}
