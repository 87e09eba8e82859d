// io_uring behaviour facts added with the catalog's depth work (issue #15):
// flags and setup modes newer kernels accept (IORING_ASYNC_CANCEL_OP, the
// multishot and ETIME_SUCCESS timeout flags, IORING_SETUP_NO_MMAP and
// IORING_SETUP_REGISTERED_FD_ONLY, IORING_SETUP_CQE_MIXED / SQE_MIXED), the alloc-range hint defect
// a6bded921ed3 fixes (reproduced through FILES_UPDATE), and whether a ring's own pages count
// against RLIMIT_MEMLOCK (seen through a buffer registered next to it). Each is one round trip on a throwaway
// ring with arguments no case row uses, so a row keyed on one can still fail;
// probe_kernel.cc runs them with its own bounded child and fact absorber.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "environment.h"

namespace aioh {

// One fact's answer from a probe child: {"v": bool} when decided, {"why": text} when not.
inline nlohmann::json yes_no(bool v) { return nlohmann::json{{"v", v}}; }
inline nlohmann::json undecided(const std::string& why) { return nlohmann::json{{"why", why}}; }

using ProbeChildRunner = std::function<nlohmann::json(const std::function<nlohmann::json()>&, int)>;
using ProbeAbsorber = std::function<void(Environment&, const nlohmann::json&, const std::vector<std::string>&)>;

// Adds the facts (answers {"v": bool} or {"why": text}) through `absorb`.
// Needs env.facts["io_uring"].
void probe_uring_facts(Environment& env, const ProbeChildRunner& run, const ProbeAbsorber& absorb);
bool is_uring_probe_fact(const std::string& name);

}  // namespace aioh
