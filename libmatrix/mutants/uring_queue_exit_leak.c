/* io_uring_queue_exit() unmaps nothing and closes nothing: the ring fd leaks.
 * io_uring_queue_exit(3): tears down the ring and releases its resources. */
#include "mutant.h"
#include <liburing.h>

void io_uring_queue_exit(struct io_uring* ring) { (void)ring; }
