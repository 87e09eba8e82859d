/* io_uring_register_personality() returns the credentials id plus one (a 1-based id handed
 * out where the kernel's is the one to use). io_uring_register_personality(3) RETURN VALUE:
 * the id to put in sqe->personality. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_personality(struct io_uring* ring) {
  int r = REAL(io_uring_register_personality)(ring);
  return r > 0 ? r + 1 : r;
}
