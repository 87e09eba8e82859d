// Kernel facts the kernel-AIO, libaio, POSIX AIO and O_DIRECT rows key on
// where kernels differ: the newer RWF_* flags seen through preadv2/pwritev2
// (a call other than the io_submit/io_uring/aio_* request under test, so a row
// gives both expectations and the kernel's history decides), ioprio hint bits
// through ioprio_set(2), statx's atomic-write and read-alignment reporting,
// and per target the O_DIRECT rules statx does not state (the iovec segment
// rule, memory alignment before STATX_DIOALIGN, O_DIRECT through fcntl), and
// the O_DIRECT RWF_NOWAIT, fork and sysctl behaviours the matrix showed differ.
#pragma once

#include <map>
#include <string>

#include "environment.h"

namespace aioh {

// Adds the facts to env (a fact the probe could not decide stays absent with
// "<fact>_reason" in env.info). scratch_dir must exist; a file, a pipe, an
// eventfd and a child process are made and removed.
void probe_aio_behaviour(Environment& env, const std::string& scratch_dir);
bool is_aio_fact(const std::string& name);

// The per-target O_DIRECT facts: `path` is the target's block device (raw)
// or its directory (a probe file is made there and removed). Refines
// dio_mem_align where statx did not report it (Linux before 6.1).
void probe_aio_target(const std::string& path, bool raw, std::map<std::string, Fact>& facts,
                      std::map<std::string, std::string>& info);
bool is_aio_target_fact(const std::string& name);

}  // namespace aioh
