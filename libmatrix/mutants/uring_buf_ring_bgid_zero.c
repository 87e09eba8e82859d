/* io_uring_register_buf_ring() registers the ring under buffer group 0 whatever reg->bgid
 * says (the field not copied into the kernel's argument).
 * io_uring_register_buf_ring(3): registers a ring for buffer group reg->bgid. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_buf_ring(struct io_uring* ring, struct io_uring_buf_reg* reg, unsigned int flags) {
  struct io_uring_buf_reg r = *reg;
  r.bgid = 0;
  return REAL(io_uring_register_buf_ring)(ring, &r, flags);
}
