// Kernel behaviour facts that differ between kernel releases and that case
// rows key on (`requires`, `when`, `xfail.if`): io_uring cancel flags and
// register opcodes, setup flags that need a partner ring, checks a kernel
// added later (negative timeouts, NOP on IOPOLL, the 1 GiB buffer limit), a
// known defect reproduced in a forked child, and the RWF_* flags that the
// read/write paths accept per file type. Each fact comes from its own round
// trip, never from the kernel version.
#pragma once

#include <string>

#include "environment.h"

namespace aioh {

// Adds the facts (and, for a fact that could not be measured, an info entry
// "<fact>_reason") to env. Needs env.facts["io_uring"] and the io_uring.op.*
// facts already probed; scratch_dir must exist (a FIFO and a file are created
// and removed there).
void probe_kernel_behaviour(Environment& env, const std::string& scratch_dir);

// The fact names and prefixes this probe contributes (for is_known_fact).
bool is_kernel_behaviour_fact(const std::string& name);

// Waits (bounded, ~2 s) until an io-wq worker of this process is asleep: a
// request handed to io-wq has started and blocked, not merely queued. The
// leak probe and the io_uring cancel scenarios both need that moment.
bool io_wq_worker_asleep();

}  // namespace aioh
