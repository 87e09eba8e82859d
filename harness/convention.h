// Helpers the backends share to turn one call's raw result into an Outcome
// while asserting the interface's convention. Each helper sets errno to a
// sentinel before the call runs, so "errno left alone" is checkable.
#pragma once

#include <cerrno>
#include <string>

#include "backend.h"
#include "errno_names.h"

namespace aioh {

inline constexpr int kErrnoSentinel = 0x5eed;

// Arm before a call under test.
inline void arm_errno() { errno = kErrnoSentinel; }

// Convention "-1 and errno" (raw syscalls, glibc aio_* submission calls).
Outcome from_minus1_errno(long ret, int saved_errno, Phase phase,
                          ConventionLog& log, std::string_view call);

// Convention "-errno returned, errno untouched" (libaio, liburing).
Outcome from_neg_errno(long ret, int saved_errno, Phase phase,
                       ConventionLog& log, std::string_view call);

// A per-request result field carrying -errno (io_event.res, cqe->res).
Outcome from_res_field(int64_t res, Channel c);

}  // namespace aioh
