/* io_uring_unregister_files() answers 0 without unregistering anything.
 * io_uring_unregister_files(3): unregisters the file table; RETURN VALUE -errno on failure
 * (-ENXIO when none is registered: io_uring/rsrc.c io_sqe_files_unregister()). */
#include "mutant.h"
#include <liburing.h>

int io_uring_unregister_files(struct io_uring* ring) {
  (void)ring;
  return 0;
}
