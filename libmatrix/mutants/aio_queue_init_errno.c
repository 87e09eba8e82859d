/* io_queue_init() fails the raw-syscall way, -1 with errno.
 * io_queue_init(3) RETURN VALUE: 0 on success, a negated error number (as io_setup(3)). */
#include "mutant.h"
#include <libaio.h>

int io_queue_init(int maxevents, io_context_t* ctxp) {
  return mutant_minus_one(REAL(io_queue_init)(maxevents, ctxp));
}
