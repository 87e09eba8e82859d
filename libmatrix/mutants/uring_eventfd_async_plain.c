/* io_uring_register_eventfd_async() registers the eventfd with IORING_REGISTER_EVENTFD (every
 * completion signals). io_uring_register_eventfd_async(3): only completions that happen
 * asynchronously signal it. */
#include "mutant.h"
#include <liburing.h>

int io_uring_register_eventfd_async(struct io_uring* ring, int fd) {
  return REAL(io_uring_register_eventfd)(ring, fd);
}
