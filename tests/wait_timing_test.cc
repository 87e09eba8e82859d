// wait_timing.h's promptness rule, checked through a real CaseContext and
// Reporter: the observation carries elapsed_ms, a wait whose condition held
// must return within the slack, a timed wait must not return before its
// timeout nor after it plus the slack, and a VM guest gets twice the slack.
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "reporter.h"
#include "scenarios/wait_timing.h"

namespace aioh {
namespace {

// The JSON lines one observe_wait() call writes.
std::vector<nlohmann::json> lines_of(const Environment& env, double elapsed, double timeout, bool met) {
  int p[2];
  EXPECT_EQ(pipe(p), 0);
  {
    Reporter rep(p[1]);
    std::map<std::string, Param> params;
    auto be = make_backend("io_uring");
    CaseContext ctx(params, *be, env, "/tmp", rep);
    timing::observe_wait(ctx, Outcome::error(ETIME, Channel::ret, Phase::wait), elapsed, timeout, met);
  }
  close(p[1]);
  std::string all;
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
  close(p[0]);
  std::vector<nlohmann::json> out;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    out.push_back(nlohmann::json::parse(all.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  return out;
}

int fails(const std::vector<nlohmann::json>& v) {
  int n = 0;
  for (auto& j : v) n += j["t"] == "fail";
  return n;
}

TEST(WaitTiming, ObservationCarriesElapsed) {
  Environment env;
  auto v = lines_of(env, 12.5, -1, true);
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v[0]["t"], "obs");
  EXPECT_DOUBLE_EQ(v[0]["elapsed_ms"].get<double>(), 12.5);
  EXPECT_EQ(fails(v), 0);
}

TEST(WaitTiming, MetConditionMustReturnWithinSlack) {
  Environment env;
  EXPECT_EQ(fails(lines_of(env, timing::kWaitSlackMs - 1, 100, true)), 0);
  EXPECT_EQ(fails(lines_of(env, timing::kWaitSlackMs + 1, 100, true)), 1);
}

TEST(WaitTiming, TimedWaitNeitherEarlyNorLate) {
  Environment env;
  EXPECT_EQ(fails(lines_of(env, 100, 100, false)), 0);
  EXPECT_EQ(fails(lines_of(env, 50, 100, false)), 1);
  EXPECT_EQ(fails(lines_of(env, 100 + timing::kWaitSlackMs + 1, 100, false)), 1);
}

TEST(WaitTiming, VmGuestDoublesTheSlack) {
  Environment env;
  env.facts["vm_guest"] = true;
  const double late = 100 + timing::kWaitSlackMs + 1;
  EXPECT_EQ(fails(lines_of(env, late, 100, false)), 0);
  EXPECT_EQ(fails(lines_of(env, 100 + timing::kWaitSlackMs * timing::kVmSlackFactor + 1, 100, false)), 1);
}

}  // namespace
}  // namespace aioh
