// The scheduler: cases side by side at -jN and strictly one after another at
// -j1, exclusive cases alone, results in completion order and re-sequenced
// into catalog order, watchdogs per case under concurrency, repeats that
// report a changed verdict, shards that partition the ids, durations read
// back from a result file, the resource classes derived from rows, and the
// same verdicts at -j1 and -j4 over a subset of the real catalog. Overlap is
// read from the times each case records itself, never from how long a run
// took: speed is the benchmark's to measure.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "backend.h"
#include "case_table.h"
#include "system/child.h"
#include "system/journal.h"
#include "resources.h"
#include "runner.h"
#include "scheduler.h"
#include "system/settings.h"
#include "case_rows.h"
#include "test_util.h"

using namespace aioh;

namespace {
int64_t mono_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}
}  // namespace

// Sleeps, and says when it started and ended ("span START END", µs).
AIOH_SCENARIO(test_sched_sleep, aioh::param::integer("ms", 50, "how long to sleep", 0, 10000)) {
  int64_t t0 = mono_us();
  usleep(static_cast<useconds_t>(ctx.num("ms") * 1000));
  ctx.note("span " + std::to_string(t0) + " " + std::to_string(mono_us()));
  ctx.observe(Outcome::ok(0, Channel::ret, Phase::submit));
}

// Passes on odd runs and fails on even ones, counted in a file.
AIOH_SCENARIO(test_sched_flip, aioh::param::text("counter", "", "file holding the run count")) {
  std::string path = ctx.str("counter");
  long n = 0;
  std::ifstream(path) >> n;
  std::ofstream(path) << n + 1;
  ctx.observe(Outcome::ok(n % 2 == 0 ? 0 : 1, Channel::ret, Phase::submit));
}

AIOH_SCENARIO(test_sched_hang, aioh::param::none) {
  (void)ctx;
  for (;;) pause();
}

namespace {

struct Span {
  int64_t t0 = 0, t1 = 0;
};

Span span_of(const Result& r) {
  for (auto& n : r.notes)
    if (n.rfind("span ", 0) == 0) {
      Span s;
      sscanf(n.c_str(), "span %ld %ld", &s.t0, &s.t1);
      return s;
    }
  return {};
}

bool overlap(const Span& a, const Span& b) { return a.t0 < b.t1 && b.t0 < a.t1; }

struct SchedulerTest : ::testing::Test {
  test::TempDir scratch;
  Environment env;
  test::CaseRows rows;
  std::vector<CaseRun>& runs = rows.runs;

  SchedulerTest() {
    for (const auto& i : interface_names()) env.interfaces[i] = {true, ""};
  }

  CaseRow& add(const std::string& id, const std::string& scenario, std::map<std::string, Param> params = {}) {
    return rows.add("t", id, scenario, std::move(params));
  }

  // Results by index, in the order they were handed on.
  std::vector<std::pair<size_t, Result>> run(int jobs, int repeat = 1, double timeout = 10,
                                             Scheduler* keep = nullptr) {
    Runner runner(env, RunOptions{timeout, scratch.path, false});
    std::vector<std::pair<size_t, Result>> out;
    auto cb = [&](const Result& r, size_t i) { out.push_back({i, r}); };
    if (keep) {
      keep->run(runs, cb);
    } else {
      Scheduler s(runner, SchedulerOptions{jobs, repeat});
      s.run(runs, cb);
    }
    return out;
  }
};

}  // namespace

TEST_F(SchedulerTest, JobsRunCasesSideBySide) {
  for (int i = 0; i < 4; i++) add("sleep" + std::to_string(i), "test_sched_sleep", {{"ms", int64_t{300}}});
  auto out = run(4);
  ASSERT_EQ(out.size(), 4u);
  int overlapping = 0;
  for (size_t a = 0; a < out.size(); a++)
    for (size_t b = a + 1; b < out.size(); b++) overlapping += overlap(span_of(out[a].second), span_of(out[b].second));
  EXPECT_GT(overlapping, 0) << "no two cases were in flight at once at -j4";
  for (auto& [i, r] : out) EXPECT_EQ(r.verdict_name(), "pass") << r.id << ": " << r.reason;
}

TEST_F(SchedulerTest, OneJobRunsInCatalogOrderOneAtATime) {
  for (int i = 0; i < 4; i++) add("sleep" + std::to_string(i), "test_sched_sleep", {{"ms", int64_t{40 - 10 * i}}});
  // A skip is final before it would fork; at -j1 it still comes out in its place.
  add("skips", "test_sched_sleep").requires_ = {"io_uring.op.TIMEOUT"};
  add("last", "test_sched_sleep", {{"ms", int64_t{0}}});
  auto out = run(1);
  ASSERT_EQ(out.size(), 6u);
  for (size_t k = 0; k < out.size(); k++) EXPECT_EQ(out[k].first, k);
  EXPECT_EQ(out[4].second.verdict_name(), "skip");
  for (size_t k : {1, 2, 3})
    EXPECT_LE(span_of(out[k - 1].second).t1, span_of(out[k].second).t0) << "case " << k << " started early";
}

TEST_F(SchedulerTest, ExclusiveCaseRunsAlone) {
  for (int i = 0; i < 3; i++) add("before" + std::to_string(i), "test_sched_sleep", {{"ms", int64_t{150}}});
  add("alone", "test_sched_sleep", {{"ms", int64_t{150}}}).exclusive = true;
  for (int i = 0; i < 3; i++) add("after" + std::to_string(i), "test_sched_sleep", {{"ms", int64_t{150}}});
  auto out = run(4);
  ASSERT_EQ(out.size(), 7u);
  Span alone;
  for (auto& [i, r] : out)
    if (r.id == "t.alone@posix-aio") alone = span_of(r);
  ASSERT_GT(alone.t1, 0);
  for (auto& [i, r] : out)
    if (r.id != "t.alone@posix-aio") {
      EXPECT_FALSE(overlap(alone, span_of(r))) << r.id << " ran beside the exclusive case";
    }
}

TEST_F(SchedulerTest, ResultsStreamInCompletionOrderAndReorderIntoCatalogOrder) {
  add("slow", "test_sched_sleep", {{"ms", int64_t{600}}});
  add("fast", "test_sched_sleep", {{"ms", int64_t{0}}});
  add("mid", "test_sched_sleep", {{"ms", int64_t{100}}});
  auto out = run(3);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_NE(out[0].first, 0u) << "the slow first case was handed on first";
  std::vector<std::string> ordered;
  OrderedResults o([&](const Result& r) { ordered.push_back(r.id); });
  for (auto& [i, r] : out) o.add(i, r);
  o.flush();
  EXPECT_EQ(ordered, (std::vector<std::string>{"t.slow@posix-aio", "t.fast@posix-aio", "t.mid@posix-aio"}));
}

TEST_F(SchedulerTest, OrderedResultsFlushKeepsWhatAStoppedRunFinished) {
  std::vector<std::string> ordered;
  OrderedResults o([&](const Result& r) { ordered.push_back(r.id); });
  Result a, c;
  a.id = "a";
  c.id = "c";
  o.add(2, c);
  o.add(0, a);  // index 1 never finished
  EXPECT_EQ(ordered, (std::vector<std::string>{"a"}));
  o.flush();
  EXPECT_EQ(ordered, (std::vector<std::string>{"a", "c"}));
}

TEST_F(SchedulerTest, OnStartAnnouncesEachCaseThatRunsBeforeItsResult) {
  for (int i = 0; i < 3; i++) add("sleep" + std::to_string(i), "test_sched_sleep", {{"ms", int64_t{100}}});
  add("skips", "test_sched_sleep").requires_ = {"io_uring.op.TIMEOUT"};
  Runner runner(env, RunOptions{10, scratch.path, false});
  Scheduler s(runner, SchedulerOptions{4, 1});
  std::vector<std::string> events;
  s.run(
      runs, [&](const Result& r, size_t) { events.push_back("end " + r.id); },
      [&](const CaseRun& c) { events.push_back("start " + c.id); });
  for (int i = 0; i < 3; i++) {
    std::string id = "t.sleep" + std::to_string(i) + "@posix-aio";
    auto st = std::find(events.begin(), events.end(), "start " + id);
    auto en = std::find(events.begin(), events.end(), "end " + id);
    ASSERT_NE(st, events.end()) << id << " never announced";
    EXPECT_LT(st, en) << id << " announced after its result";
  }
  EXPECT_EQ(std::count(events.begin(), events.end(), "start t.skips@posix-aio"), 0)
      << "a case that skips without a child was announced as running";
}

namespace {
// A child holding the global-settings lock, as another run's sysctl row
// does, from when it said so on the pipe until `hold_ms` later; it writes
// the CLOCK_MONOTONIC µs at which it let go.
struct OtherRunsChange {
  pid_t pid = -1;
  int from = -1;
  explicit OtherRunsChange(int hold_ms) {
    int p[2];
    if (pipe(p) != 0) return;
    pid = fork();
    if (pid == 0) {
      close(p[0]);
      bool ok = system::acquire_settings_lock("a test standing for another run's sysctl row").empty();
      (void)!write(p[1], ok ? "y" : "n", 1);
      usleep(static_cast<useconds_t>(hold_ms) * 1000);
      int64_t t = mono_us();
      system::release_settings_lock();
      (void)!write(p[1], &t, sizeof t);
      _exit(0);
    }
    close(p[1]);
    from = p[0];
  }
  bool holds() {
    char c = 0;
    return from >= 0 && read(from, &c, 1) == 1 && c == 'y';
  }
  int64_t released_at() {
    int64_t t = 0;
    if (read(from, &t, sizeof t) != sizeof t) t = -1;
    waitpid(pid, nullptr, 0);
    close(from);
    pid = -1;
    return t;
  }
  ~OtherRunsChange() {
    if (pid > 0) kill(pid, SIGKILL), waitpid(pid, nullptr, 0);
  }
};
}  // namespace

TEST_F(SchedulerTest, CasesWithRingsWaitWhileAnotherRunChangesASettingTheOthersGoOn) {
  if (geteuid() != 0) GTEST_SKIP() << "the global-settings lock lives in root's /run/aioharness";
  rows.add("t", "ring", "test_sched_sleep", {{"ms", int64_t{0}}}, "0@submit", "io_uring");
  rows.add("t", "threads", "test_sched_sleep", {{"ms", int64_t{0}}}, "0@submit", "posix-aio");
  OtherRunsChange other(400);
  ASSERT_TRUE(other.holds());
  auto out = run(2);
  int64_t released = other.released_at();
  ASSERT_EQ(out.size(), 2u);
  ASSERT_GT(released, 0);
  std::map<std::string, Result> by_id;
  for (auto& [i, r] : out) by_id[r.id] = r;
  EXPECT_EQ(by_id["t.ring@io_uring"].verdict_name(), "pass") << by_id["t.ring@io_uring"].reason;
  EXPECT_GE(span_of(by_id["t.ring@io_uring"]).t0, released) << "an io_uring case started while a setting was being changed";
  EXPECT_LT(span_of(by_id["t.threads@posix-aio"]).t0, released) << "a POSIX AIO case waited for no reason";
}

TEST(SettingsInUse, NobodyNewHoldsThemWhileAChangeHoldsTheLock) {
  if (geteuid() != 0) GTEST_SKIP() << "the global-settings lock lives in root's /run/aioharness";
  OtherRunsChange other(200);
  ASSERT_TRUE(other.holds());
  system::SettingsInUse u;
  std::string holder;
  EXPECT_FALSE(u.try_hold(&holder));
  EXPECT_NE(holder.find("a test standing for another run's sysctl row"), std::string::npos) << holder;
  EXPECT_EQ(u.hold(5, "a test"), "") << "the change ended: the settings can be held again";
  EXPECT_TRUE(u.held());
  other.released_at();
}

TEST(SettingsInUse, AChangeWaitsForTheirHoldersThenGoesAhead) {
  if (geteuid() != 0) GTEST_SKIP() << "sysctls are root's";
  const std::string kAioMaxNr = "/proc/sys/fs/aio-max-nr";
  std::string value = system::read_sysctl(kAioMaxNr);
  ASSERT_FALSE(value.empty());
  Journal::run_journal();  // the children's entries go to this process's journal
  // A child changing fs.aio-max-nr (to the value it has: nothing else is disturbed); "" or why not.
  auto change = [&](double max_wait) {
    return system::run_in_child([&] {
             system::SysctlChange ch{max_wait};
             std::string err = ch.set(kAioMaxNr, value);
             return err.empty() ? ch.restore() : err;
           }, 0).out;
  };
  system::SettingsInUse u;
  ASSERT_EQ(u.hold(10, "a test"), "") << "another run on the machine may hold them for a moment";
  std::string refused = change(0.3);
  EXPECT_NE(refused.find("hold the global settings in use"), std::string::npos) << refused;
  EXPECT_NE(refused.find(fmt::format("pid {}", getpid())), std::string::npos) << "the holder is not named: " << refused;
  EXPECT_NE(refused.find("gave up after 0.3 s"), std::string::npos) << refused;
  u.release();
  EXPECT_EQ(change(5), "");
  EXPECT_EQ(system::read_sysctl(kAioMaxNr), value);
}

TEST_F(SchedulerTest, HangTimesOutWhileTheOthersPass) {
  add("hang", "test_sched_hang");
  for (int i = 0; i < 3; i++) add("sleep" + std::to_string(i), "test_sched_sleep", {{"ms", int64_t{50}}});
  auto out = run(4, 1, 0.5);
  ASSERT_EQ(out.size(), 4u);
  for (auto& [i, r] : out) {
    EXPECT_EQ(r.verdict_name(), i == 0 ? "timeout" : "pass") << r.id << ": " << r.reason;
  }
}

TEST_F(SchedulerTest, RepeatReportsAVerdictThatChanged) {
  std::string counter = scratch.path + "/flip-count";
  add("flip", "test_sched_flip", {{"counter", counter}});
  add("steady", "test_sched_sleep", {{"ms", int64_t{0}}});
  Runner runner(env, RunOptions{10, scratch.path, false});
  Scheduler s(runner, SchedulerOptions{1, 3});
  auto out = run(1, 3, 10, &s);
  ASSERT_EQ(out.size(), 2u) << "one result per case, not per repeat";
  std::map<std::string, Result> by_id;
  for (auto& [i, r] : out) by_id[r.id] = r;
  const Result& flip = by_id["t.flip@posix-aio"];
  EXPECT_EQ(flip.verdict_name(), "fail");
  EXPECT_NE(flip.reason.find("verdict changed between 3 repeats (pass×2, fail×1)"), std::string::npos) << flip.reason;
  EXPECT_EQ(by_id["t.steady@posix-aio"].verdict_name(), "pass");
  ASSERT_EQ(s.flaky().size(), 1u);
  EXPECT_NE(s.flaky()[0].find("t.flip@posix-aio"), std::string::npos);
}

TEST(Shard, ParsesAndRefusesBadInput) {
  std::string err;
  auto s = parse_shard("2/4", &err);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->index, 2);
  EXPECT_EQ(s->count, 4);
  for (const char* bad : {"3/2", "0/0", "0/3", "x", "1/", "/2", "1/2/3", "-1/2", "1 /2"})
    EXPECT_FALSE(parse_shard(bad, &err)) << bad;
}

TEST(Shard, PartitionsEveryIdOnceAndDeterministically) {
  std::vector<std::string> ids;
  for (int i = 0; i < 101; i++) ids.push_back("a.case" + std::to_string(i) + "@libaio");
  for (bool with_durations : {false, true}) {
    std::map<std::string, double> d;
    if (with_durations)
      for (int i = 0; i < 90; i++) d[ids[i]] = (i * 37) % 100 + 1;  // 11 ids unknown
    std::multiset<size_t> seen;
    std::vector<double> load;
    for (int k = 1; k <= 4; k++) {
      auto part = shard_indices(ids, Shard{k, 4}, d);
      EXPECT_EQ(part, shard_indices(ids, Shard{k, 4}, d)) << "not deterministic";
      double sum = 0;
      for (auto i : part) seen.insert(i), sum += d.count(ids[i]) ? d[ids[i]] : 0;
      load.push_back(sum);
    }
    EXPECT_EQ(seen.size(), ids.size());
    EXPECT_EQ(std::set<size_t>(seen.begin(), seen.end()).size(), ids.size()) << "an id in two shards";
    if (with_durations) {
      auto [lo, hi] = std::minmax_element(load.begin(), load.end());
      EXPECT_LT(*hi - *lo, 101) << "shards unbalanced by more than the longest case";
    }
  }
}

TEST(Durations, ReadFromAResultDocumentAndFromJsonl) {
  test::TempDir d;
  auto doc = d.write("r.json", R"({"schema":"aioharness-result/1","results":[{"id":"a@libaio","duration_ms":12.5},{"id":"b@libaio","duration_ms":3}]})");
  auto lines = d.write("r.jsonl", "{\"type\":\"environment\"}\n{\"type\":\"result\",\"id\":\"a@libaio\",\"duration_ms\":7}\n");
  auto m = load_durations(doc);
  EXPECT_EQ(m.size(), 2u);
  EXPECT_DOUBLE_EQ(m["a@libaio"], 12.5);
  EXPECT_DOUBLE_EQ(load_durations(lines)["a@libaio"], 7);
  EXPECT_THROW(load_durations(d.write("bad", "not json\n")), std::runtime_error);
  EXPECT_THROW(load_durations(d.path + "/missing"), std::runtime_error);
}

TEST(MergeRepeats, AgreeingRepeatsKeepTheirVerdict) {
  Result a;
  a.id = "x";
  a.verdict = Verdict::pass;
  bool changed = true;
  auto m = merge_repeats({a, a, a}, &changed);
  EXPECT_FALSE(changed);
  EXPECT_EQ(m.verdict, Verdict::pass);
}

namespace {
CaseRow row_with(const std::string& scenario) {
  CaseRow r;
  r.id = "x";
  r.area = "t";
  r.scenario = scenario;
  return r;
}
faults::FaultSpec fault(const std::string& layer, const std::string& target, const std::string& effect) {
  return {.layer = layer, .target = target, .effect = effect};
}
}  // namespace

TEST(ResourceClass, DerivedFromFaultScenarioTargetAndTheRow) {
  auto targets = default_targets();
  auto claim = [&](CaseRow& r, const std::string& iface, const std::string& suffix = "") {
    return derive_claim(CaseRun{&r, iface, r.case_id() + "@" + iface + suffix}, targets);
  };
  CaseRow plain = row_with("rw_basic");
  EXPECT_EQ(claim(plain, "io_uring").class_name(), "shared");
  EXPECT_GT(claim(plain, "libaio").aio_events, 0) << "a kernel-AIO case counts against fs.aio-max-nr";
  EXPECT_EQ(claim(plain, "posix-aio").aio_events, 0);
  EXPECT_TRUE(claim(plain, "io_uring").settings_in_use) << "a ring meets kernel.io_uring_disabled";
  EXPECT_TRUE(claim(plain, "kernel-aio").settings_in_use) << "a context meets fs.aio-max-nr";
  EXPECT_FALSE(claim(plain, "posix-aio").settings_in_use) << "glibc's threads use neither";
  CaseRow sysctl = row_with("fault_rw");
  sysctl.fault = fault("sysctl", "aio-max-nr", "exhaust");
  EXPECT_EQ(claim(sysctl, "libaio").class_name(), "exclusive");
  EXPECT_FALSE(claim(sysctl, "libaio").settings_in_use) << "it changes them itself, alone";
  CaseRow seccomp = row_with("fault_rw");
  seccomp.fault = fault("syscall", "io_submit", "EAGAIN");
  EXPECT_EQ(claim(seccomp, "libaio").class_name(), "shared") << "a seccomp filter is the case's own";
  CaseRow fuse = row_with("fault_fs_delay");
  fuse.fault = fault("fs", "read", "delay:1500");
  EXPECT_EQ(claim(fuse, "libaio").class_name(), "shared") << "the fault fs is mounted on the case's own directory";
  CaseRow memlock = row_with("fault_rw");
  memlock.fault = fault("rlimit", "memlock", "limit:4096");
  auto m = claim(memlock, "io_uring");
  EXPECT_EQ(m.class_name(), "serial");
  EXPECT_EQ(m.serial, (std::vector<std::string>{"memlock"}));
  CaseRow enospc = row_with("fault_rw");
  enospc.fault = fault("enospc", "ext4-loop", "full:65536");
  auto e = claim(enospc, "libaio");
  EXPECT_EQ(e.class_name(), "serial") << "its own filesystem, but making its loop device races another maker";
  EXPECT_EQ(e.serial, (std::vector<std::string>{"loop-create"}));
  CaseRow lsm = row_with("fault_rw");
  lsm.fault = fault("lsm", "read", "EACCES");
  EXPECT_EQ(claim(lsm, "libaio").class_name(), "exclusive");
  CaseRow exhaust = row_with("kaio_setup_exhaust");
  EXPECT_EQ(claim(exhaust, "libaio").class_name(), "exclusive");
  EXPECT_NE(claim(exhaust, "libaio").why.find("fs.aio-max-nr"), std::string::npos);
  CaseRow marked = row_with("rw_basic");
  marked.exclusive = true;
  EXPECT_EQ(claim(marked, "libaio").class_name(), "exclusive");
  CaseRow dio = row_with("dio_sweep");
  dio.targets = {"all"};
  auto reader = claim(dio, "libaio", "/loop-512");
  EXPECT_EQ(reader.class_name(), "shared");
  EXPECT_EQ(reader.shared, (std::vector<std::string>{"target:loop-512"})) << "readers share the raw device";
  dio.params["op"] = std::string("write");
  auto writer = claim(dio, "libaio", "/loop-512");
  EXPECT_EQ(writer.serial, (std::vector<std::string>{"target:loop-512"})) << "a writer has the raw device alone";
  EXPECT_EQ(claim(dio, "libaio", "/xfs-4096").class_name(), "shared") << "each case has its own directory on a file target";
}

TEST(ResourceClass, AFaultThatCannotBeInstalledHereClaimsNothing) {
  // Each layer's claim holds only where its fault can go in: null_blk's
  // badblocks need the module, a rule on the guest's disk needs a guest.
  struct Layer {
    const char *scenario, *layer, *target, *effect, *fact, *why;
  };
  for (const Layer& l : {Layer{"fault_block", "block", "null_blk-badblocks", "sectors:64-71", "null_blk",
                               "null_blk is missing here"},
                         Layer{"fault_rw", "vm", "blkdebug:read_aio@2621440", "EIO", "vm_guest", "not a VM guest"}}) {
    SCOPED_TRACE(l.layer);
    CaseRow row = row_with(l.scenario);
    row.fault = fault(l.layer, l.target, l.effect);
    CaseRun run{&row, "libaio", "t.x@libaio"};
    Environment env;
    env.facts[l.fact] = false;
    auto c = derive_claim(run, default_targets(), &env);
    EXPECT_EQ(c.class_name(), "shared");
    EXPECT_NE(c.why.find(l.why), std::string::npos) << c.why;
    env.facts[l.fact] = true;
    EXPECT_EQ(derive_claim(run, default_targets(), &env).class_name(), "exclusive");
    EXPECT_EQ(derive_claim(run, default_targets()).class_name(), "exclusive") << "--list shows the row's own class";
  }
}

TEST(ResourceBudget, SerialKeysExclusiveAndJobs) {
  Environment env;
  env.facts["aio_max_nr"] = int64_t{65536};
  env.facts["aio_nr"] = int64_t{0};
  ResourceBudget b(env, 2);
  ResourceClaim shared, serial, excl;
  serial.serial = {"target:loop-512"};
  excl.exclusive = true;
  b.take(serial);
  EXPECT_FALSE(b.fits(serial)) << "two cases on one serial key";
  EXPECT_TRUE(b.fits(shared));
  EXPECT_FALSE(b.fits(excl)) << "an exclusive case beside another";
  b.take(shared);
  EXPECT_FALSE(b.fits(shared)) << "more than --jobs";
  b.give(serial);
  b.give(shared);
  EXPECT_TRUE(b.fits(excl));
  b.take(excl);
  EXPECT_FALSE(b.fits(shared)) << "anything beside an exclusive case";
  b.give(excl);
  ResourceClaim reader, writer;
  reader.shared = {"target:loop-512"};
  writer.serial = {"target:loop-512"};
  b.take(reader);
  EXPECT_TRUE(b.fits(reader)) << "two readers of one raw device";
  EXPECT_FALSE(b.fits(writer)) << "a writer beside a reader";
  b.give(reader);
  b.take(writer);
  EXPECT_FALSE(b.fits(reader)) << "a reader beside a writer";
  b.give(writer);
  ResourceClaim big;
  big.aio_events = 65536;
  EXPECT_TRUE(b.fits(big)) << "a claim larger than the budget still runs, alone";
  b.take(shared);
  EXPECT_FALSE(b.fits(big));
}

// The same verdicts one at a time and side by side, over real rows.
TEST(SchedulerCatalog, SameVerdictsAtOneJobAndAtFour) {
  if (geteuid() != 0) GTEST_SKIP() << "the catalog subset needs root";
  auto rows = load_case_dir(test::cases_dir());
  std::vector<std::string> ifaces;
  for (const auto& i : interface_names()) ifaces.push_back(i);
  auto all = expand(rows, ifaces, {});
  std::vector<CaseRun> subset;
  for (auto& r : all)
    if (r.row->area == "errors" || r.row->area == "wait" || r.row->area == "kaio-submit" || r.row->area == "uring-rw")
      subset.push_back(r);
  ASSERT_GT(subset.size(), 50u);
  test::TempDir scratch;
  Environment env = probe_environment(scratch.path);
  auto run = [&](const std::vector<CaseRun>& cases, int jobs) {
    std::map<std::string, std::string> v;
    Runner runner(env, RunOptions{10, scratch.path, false});
    Scheduler s(runner, SchedulerOptions{jobs, 1});
    s.run(cases, [&](const Result& r, size_t) { v[r.id] = std::string(r.verdict_name()) + ": " + r.reason; });
    return v;
  };
  auto one = run(subset, 1), four = run(subset, 4);
  ASSERT_EQ(one.size(), subset.size());
  // Another harness on this machine may hold a sysctl (fs.aio-max-nr,
  // kernel.io_uring_disabled) changed for a moment: an id that differs is
  // run once more each way, and only a difference that holds fails.
  std::vector<CaseRun> again;
  for (auto& r : subset)
    if (one[r.id].substr(0, one[r.id].find(':')) != four[r.id].substr(0, four[r.id].find(':'))) again.push_back(r);
  if (again.empty()) return;
  auto one2 = run(again, 1), four2 = run(again, 4);
  for (auto& r : again) {
    std::string a = one2[r.id], b = four2[r.id];
    EXPECT_EQ(a.substr(0, a.find(':')), b.substr(0, b.find(':')))
        << r.id << " at -j1: " << one[r.id] << " then " << a << "; at -j4: " << four[r.id] << " then " << b;
  }
}
