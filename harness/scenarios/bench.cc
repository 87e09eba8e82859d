// Scenarios for scripts/bench only (no shipped table names them): a case that
// does no I/O at all measures the runner's own cost per case (fork, watchdog,
// result channel, backend construction); one that only stamps and verifies
// 1 MiB measures data verification.
#include <vector>

#include "common.h"

AIOH_SCENARIO(bench_noop, aioh::param::none) { ctx.observe(aioh::Outcome::ok(0, aioh::Channel::ret, aioh::Phase::submit)); }

AIOH_SCENARIO(bench_verify_1m, aioh::param::none) {
  using namespace aioh;
  std::vector<uint8_t> b(1 << 20);
  fill_pattern(b.data(), b.size(), kFileSeed, 0);
  ctx.check(verify_buffer(b.data(), b.size(), kFileSeed, 0).empty(), "pattern self-check");
  ctx.observe(Outcome::ok(static_cast<int64_t>(b.size()), Channel::ret, Phase::completion));
}
