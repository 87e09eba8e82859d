/* io_uring_register_probe() loses the kernel's newest opcode (last_op one short, its flag
 * cleared), as a copy that stops one entry early would. io_uring_register_probe(3): fills p
 * with the kernel's IORING_REGISTER_PROBE answer (io_uring_get_probe_ring() calls it). */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_probe(struct io_uring* ring, struct io_uring_probe* p, unsigned nr_ops) {
  int r = REAL(io_uring_register_probe)(ring, p, nr_ops);
  if (r >= 0 && p->last_op > 0) {
    if (p->last_op < p->ops_len) p->ops[p->last_op].flags &= ~IO_URING_OP_SUPPORTED;
    p->last_op--;
  }
  return r;
}
