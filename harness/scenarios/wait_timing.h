// How long a wait took, and whether that was prompt: shared by the wait
// scenarios of every interface (io_getevents, io_pgetevents, aio_suspend,
// io_uring_wait_cqes/io_uring_enter). A wait's own answer is not enough: a
// wait that claims a timeout after blocking twice as long, or one that
// returns early, is wrong even with the right return value. So the observed
// outcome carries its elapsed time (Observation::elapsed_ms) and promptness
// is checked against one stated slack: a wait with timeout T returns no
// earlier than T (less the clock's granularity) and within T plus the slack;
// a wait whose condition already held returns within the slack.
#pragma once

#include <time.h>

#include <string>

#include <fmt/format.h>

#include "scenario.h"

namespace aioh::timing {

// CLOCK_MONOTONIC, as the kernel's own wait timeouts.
struct Stopwatch {
  timespec t0{};
  Stopwatch() { reset(); }
  void reset() { clock_gettime(CLOCK_MONOTONIC, &t0); }
  double ms() const {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<double>(t.tv_sec - t0.tv_sec) * 1e3 +
           static_cast<double>(t.tv_nsec - t0.tv_nsec) / 1e6;
  }
};

// The slack a wait may take beyond what it was asked for: scheduling on a
// loaded 2-core machine (a load average of 10 delays a 100 ms wait by up to a
// few hundred ms), never the I/O itself (those waits are bounded by their own
// rows). Wide enough not to flake, narrow enough to catch a wait that blocks
// on the wrong deadline (seconds) or forever. In a VM guest (TCG: every
// instruction emulated) twice as much. The numbers are part of every
// failure message.
inline constexpr double kWaitSlackMs = 1000;
inline constexpr double kVmSlackFactor = 2;
// hrtimers expire on time, but the two clock reads around the call may
// straddle a tick of the caller's own measurement.
inline constexpr double kClockGranularityMs = 1;

inline double slack_ms(const Environment& env) {
  return env.flag("vm_guest") ? kWaitSlackMs * kVmSlackFactor : kWaitSlackMs;
}

// The outcome with its elapsed time, and a check that the wait returned in
// [lo_ms - granularity, hi_ms + slack].
inline void observe_wait_between(CaseContext& ctx, const Outcome& o, double elapsed_ms,
                                 double lo_ms, double hi_ms, const std::string& what = "the wait") {
  ctx.observe(o, elapsed_ms);
  const double slack = slack_ms(ctx.env());
  ctx.check(elapsed_ms + kClockGranularityMs >= lo_ms,
            fmt::format("{} returned {} after {:.1f} ms, before {:.0f} ms", what, o.str(), elapsed_ms, lo_ms));
  ctx.check(elapsed_ms <= hi_ms + slack,
            fmt::format("{} returned {} after {:.1f} ms, later than {:.0f} ms + {:.0f} ms slack", what, o.str(),
                        elapsed_ms, hi_ms, slack));
}

// A wait with timeout `timeout_ms` (< 0: none). min_met: its condition held
// (or was met by something the caller did at once), so it must return at
// once; otherwise it must wait out its timeout, and an untimed wait that was
// not met has no upper bound to check.
inline void observe_wait(CaseContext& ctx, const Outcome& o, double elapsed_ms, double timeout_ms,
                         bool min_met) {
  if (min_met) {
    observe_wait_between(ctx, o, elapsed_ms, 0, 0, "a wait whose condition held");
  } else if (timeout_ms >= 0) {
    observe_wait_between(ctx, o, elapsed_ms, timeout_ms, timeout_ms,
                         fmt::format("a wait with a {:.0f} ms timeout", timeout_ms));
  } else {
    ctx.observe(o, elapsed_ms);
  }
}

}  // namespace aioh::timing
