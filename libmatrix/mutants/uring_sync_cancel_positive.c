/* io_uring_register_sync_cancel() passes the kernel's -errno through as a positive number.
 * io_uring_register_sync_cancel(3) RETURN VALUE: 0 or -errno (-ENOENT: nothing matched). */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_sync_cancel(struct io_uring* ring, struct io_uring_sync_cancel_reg* reg) {
  int r = REAL(io_uring_register_sync_cancel)(ring, reg);
  return r < 0 ? -r : r;
}
