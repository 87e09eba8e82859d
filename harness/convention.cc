// The two return conventions of the interfaces under test, checked on every
// call. A breach is recorded and fails the case, but the outcome is still
// normalised as well as it can be so the observed value stays visible.
#include "convention.h"

#include <fmt/format.h>

namespace aioh {

Outcome from_minus1_errno(long ret, int saved_errno, Phase phase,
                          ConventionLog& log, std::string_view call) {
  if (ret == -1) {
    if (saved_errno == kErrnoSentinel || saved_errno <= 0) {
      log.breach(fmt::format("{} returned -1 but did not set errno", call));
      return Outcome::error(0, Channel::errno_, phase);
    }
    return Outcome::error(saved_errno, Channel::errno_, phase);
  }
  if (ret < -1) {
    // The shape a wrapper that forgot to translate a raw -errno would give.
    log.breach(fmt::format("{} returned {} instead of -1 with errno", call,
                           ret));
    if (-ret < 4096) return Outcome::error(static_cast<int>(-ret), Channel::ret, phase);
    return Outcome::ok(ret, Channel::ret, phase);
  }
  return Outcome::ok(ret, Channel::ret, phase);
}

Outcome from_neg_errno(long ret, int saved_errno, Phase phase,
                       ConventionLog& log, std::string_view call) {
  if (saved_errno != kErrnoSentinel)
    log.breach(fmt::format("{} changed errno to {} (it must leave errno alone)",
                           call, errno_name(saved_errno)));
  if (ret < 0) {
    if (ret == -1 && saved_errno != kErrnoSentinel) {
      log.breach(fmt::format(
          "{} returned -1 with errno {} instead of the negated errno", call,
          errno_name(saved_errno)));
      return Outcome::error(saved_errno, Channel::errno_, phase);
    }
    return Outcome::error(static_cast<int>(-ret), Channel::ret, phase);
  }
  return Outcome::ok(ret, Channel::ret, phase);
}

Outcome from_res_field(int64_t res, Channel c) {
  if (res < 0 && res >= -4095)
    return Outcome::error(static_cast<int>(-res), c, Phase::completion);
  return Outcome::ok(res, c, Phase::completion);
}

}  // namespace aioh
