/* io_uring_get_probe_ring() loses the kernel's newest opcode (last_op one short, its flag
 * cleared). io_uring_get_probe_ring(3): the probe IORING_REGISTER_PROBE fills for that ring. */
#include "mutant.h"
#include <liburing.h>

struct io_uring_probe* io_uring_get_probe_ring(struct io_uring* ring) {
  struct io_uring_probe* p = REAL(io_uring_get_probe_ring)(ring);
  if (p && p->last_op > 0) {
    if (p->last_op < p->ops_len) p->ops[p->last_op].flags &= ~IO_URING_OP_SUPPORTED;
    p->last_op--;
  }
  return p;
}
