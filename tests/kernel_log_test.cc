// The kernel-log oracle: records, splats and the task a splat names parsed
// from the kernel's own formats; a splat traced to a case's task fails that
// case even with others in flight; one only the windows can place (a kernel
// thread) is placed by rerunning the cases that were in flight alone, or,
// when none brings it back, fails them all saying so; a splat of a task
// outside the run, or beside another harness's open case that none of ours
// brings back, fails no case and is reported as outside; a taint change goes
// to the case in flight. The tests feed the oracle a pipe in /dev/kmsg's
// format and a taint file, so no fake splat ever reaches the real kernel log
// where other harnesses on the machine would read it.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include <fmt/format.h>

#include "backend.h"
#include "case_table.h"
#include "kernel_log.h"
#include "runner.h"
#include "scheduler.h"
#include "case_rows.h"
#include "test_util.h"

using namespace aioh;

namespace {
// The write end of the fake /dev/kmsg, by its /proc path in the test
// process: a case's child inherits none of the harness's fds, so it opens it.
std::string g_fake_kmsg;

void kmsg_line(const std::string& text, int facility = 0) {
  static int seq = 1;
  std::string line = fmt::format("{},{},0,-;{}\n", facility * 8 + 4, seq++, text);
  int fd = open(g_fake_kmsg.c_str(), O_WRONLY | O_CLOEXEC);
  (void)!write(fd, line.data(), line.size());
  if (fd >= 0) close(fd);
}

// A WARNING in /dev/kmsg's lines, naming pid/comm.
void warning(pid_t pid, const std::string& comm) {
  kmsg_line(fmt::format("WARNING: CPU: 0 PID: {} at fs/aio.c:1234 aioh_test_splat+0x0/0x10", pid));
  kmsg_line("Modules linked in: loop");
  kmsg_line(fmt::format("CPU: 0 UID: 0 PID: {} Comm: {} Not tainted 6.18.0 #1", pid, comm));
  kmsg_line("---[ end trace 0000000000000000 ]---");
}

std::string own_comm() {
  char name[17] = {};
  prctl(PR_GET_NAME, name);
  return name;
}
}  // namespace

AIOH_SCENARIO(test_kmsg_sleep, aioh::param::integer("ms", 300, "how long to sleep", 0, 10000)) {
  usleep(static_cast<useconds_t>(ctx.num("ms") * 1000));
  ctx.observe(Outcome::ok(0, Channel::ret, Phase::submit));
}

// who: self (the case's own task), worker (a kernel thread: kthreadd, pid 2),
// outside (pid 1, a live task that is not the run's). once: only while the
// counter file does not exist yet.
AIOH_SCENARIO(test_kmsg_splat, aioh::param::choice("who", "self", {"self", "worker", "outside"}, "the task named"),
              aioh::param::integer("delay_ms", 100, "wait before the splat", 0, 10000),
              aioh::param::text("once", "", "a file: splat only on the first run"),
              aioh::param::text("taint", "", "a taint file to change instead of a splat")) {
  usleep(static_cast<useconds_t>(ctx.num("delay_ms") * 1000));
  std::string once = ctx.str("once");
  bool first = once.empty() || access(once.c_str(), F_OK) != 0;
  if (!once.empty()) std::ofstream(once) << "ran";
  if (!ctx.str("taint").empty()) {
    std::ofstream(ctx.str("taint")) << "512\n";
  } else if (first) {
    std::string who = ctx.str("who");
    if (who == "self") warning(getpid(), own_comm());
    else if (who == "worker") warning(2, "kworker/0:1");
    else warning(1, "systemd");
  }
  usleep(50 * 1000);
  ctx.observe(Outcome::ok(0, Channel::ret, Phase::submit));
}

TEST(KernelLog, ParsesRecordsMarksAndCaseNames) {
  auto r = parse_kmsg_line("4,1234,5678901,-,caller=T12;WARNING: CPU: 1 PID: 9 at x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->facility, 0);
  EXPECT_EQ(r->level, 4);
  EXPECT_EQ(r->seq, 1234u);
  EXPECT_EQ(r->text, "WARNING: CPU: 1 PID: 9 at x");
  EXPECT_FALSE(parse_kmsg_line(" SUBSYSTEM=block"));
  EXPECT_EQ(parse_kmsg_line("14,3,0,-;aioharness: begin a.b@libaio run=k3x")->facility, 1);
  auto m = parse_mark("aioharness: begin a.b@libaio run=k3x");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->begin);
  EXPECT_EQ(m->id, "a.b@libaio");
  EXPECT_EQ(m->run_tag, "k3x");
  auto old = parse_mark("aioharness: end a.b@libaio");  // an older harness: no run tag
  ASSERT_TRUE(old);
  EXPECT_FALSE(old->begin);
  EXPECT_EQ(old->run_tag, "");
  std::string comm = case_comm(run_tag_for(4194304), 60466175);
  EXPECT_LE(comm.size(), 15u);
  auto cc = parse_case_comm(comm);
  ASSERT_TRUE(cc);
  EXPECT_EQ(cc->run_tag, run_tag_for(4194304));
  EXPECT_EQ(cc->seq, 60466175u);
  EXPECT_FALSE(parse_case_comm("harness"));
}

TEST(KernelLog, FindsTheTaskASplatNames) {
  auto t = splat_task("CPU: 1 UID: 0 PID: 4242 Comm: aiohk3x:1a Tainted: G W 6.18.0 #1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->pid, 4242);
  EXPECT_EQ(t->comm, "aiohk3x:1a");
  EXPECT_EQ(splat_task("Read of size 8 at addr ffff888 by task harness/77")->pid, 77);
  EXPECT_EQ(splat_task("INFO: task harness:88 blocked for more than 120 seconds.")->comm, "harness");
  EXPECT_EQ(splat_task("in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 99, name: iou-wrk-98")->pid, 99);
  EXPECT_EQ(splat_task("WARNING: CPU: 0 PID: 5 at fs/aio.c:1 f+0x0/0x1")->comm, "");
  EXPECT_FALSE(splat_task("Call Trace:"));
  EXPECT_TRUE(is_kernel_splat("BUG: KASAN: use-after-free in io_req_task_work"));
  EXPECT_FALSE(is_kernel_splat("EXT4-fs (loop3): mounted filesystem"));
  EXPECT_TRUE(is_kernel_thread_name("kworker/u8:2"));
  EXPECT_FALSE(is_kernel_thread_name("harness"));
}

namespace {

struct KernelLogTest : ::testing::Test {
  test::TempDir scratch;
  Environment env;
  test::CaseRows rows;
  std::vector<CaseRun>& runs = rows.runs;
  int pipe_fd[2] = {-1, -1};
  std::string taint_file;

  KernelLogTest() {
    for (const auto& i : interface_names()) env.interfaces[i] = {true, ""};
    EXPECT_EQ(pipe(pipe_fd), 0);
    g_fake_kmsg = fmt::format("/proc/{}/fd/{}", getpid(), pipe_fd[1]);
    taint_file = scratch.write("tainted", "0\n");
  }
  ~KernelLogTest() override {
    close(pipe_fd[0]);
    close(pipe_fd[1]);
    g_fake_kmsg.clear();
  }

  void add(const std::string& id, const std::string& scenario, std::map<std::string, Param> params = {}) {
    rows.add("k", id, scenario, std::move(params));
  }

  std::map<std::string, Result> run(int jobs, std::vector<std::string>* outside = nullptr) {
    RunOptions o{10, scratch.path, true};
    o.kmsg_path = fmt::format("/proc/self/fd/{}", pipe_fd[0]);
    o.taint_path = taint_file;
    Runner runner(env, o);
    Scheduler s(runner, SchedulerOptions{jobs, 1});
    std::map<std::string, Result> out;
    s.run(runs, [&](const Result& r, size_t) { out[r.id.substr(2, r.id.find('@') - 2)] = r; });
    if (outside) *outside = s.outside_events();
    return out;
  }
};

}  // namespace

TEST_F(KernelLogTest, SplatOfACasesOwnTaskFailsThatCaseOnly) {
  add("culprit", "test_kmsg_splat", {{"who", std::string("self")}});
  for (int i = 0; i < 3; i++) add("bystander" + std::to_string(i), "test_kmsg_sleep");
  auto out = run(4);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out["culprit"].verdict_name(), "fail");
  EXPECT_EQ(out["culprit"].reason.rfind("kernel-log: WARNING: CPU: 0 PID:", 0), 0u) << out["culprit"].reason;
  for (int i = 0; i < 3; i++) {
    auto& r = out["bystander" + std::to_string(i)];
    EXPECT_EQ(r.verdict_name(), "pass") << r.reason;
  }
}

TEST_F(KernelLogTest, KernelThreadSplatAmongSeveralIsPlacedByRerunningEachAlone) {
  add("culprit", "test_kmsg_splat", {{"who", std::string("worker")}});
  add("bystander0", "test_kmsg_sleep");
  add("bystander1", "test_kmsg_sleep");
  auto out = run(3);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out["culprit"].verdict_name(), "fail");
  EXPECT_NE(out["culprit"].reason.find("came back when this case ran alone"), std::string::npos) << out["culprit"].reason;
  for (auto id : {"bystander0", "bystander1"}) {
    EXPECT_EQ(out[id].verdict_name(), "pass") << out[id].reason;
    EXPECT_TRUE(test::any_contains(out[id].notes, "placed by running each alone")) << id;
  }
}

TEST_F(KernelLogTest, SplatNoneBringsBackAloneFailsEveryCaseInFlightSayingSo) {
  add("once", "test_kmsg_splat", {{"who", std::string("worker")}, {"once", scratch.path + "/ran"}});
  add("bystander", "test_kmsg_sleep");
  auto out = run(2);
  for (auto id : {"once", "bystander"}) {
    EXPECT_EQ(out[id].verdict_name(), "fail") << id;
    EXPECT_NE(out[id].reason.find("none made it again when it ran alone"), std::string::npos) << out[id].reason;
  }
}

TEST_F(KernelLogTest, KernelThreadSplatWithOneCaseInFlightIsThatCasesAsAtOneJob) {
  add("alone", "test_kmsg_splat", {{"who", std::string("worker")}, {"once", scratch.path + "/ran"}});
  auto out = run(1);
  EXPECT_EQ(out["alone"].verdict_name(), "fail");
  EXPECT_EQ(out["alone"].reason.find("came back"), std::string::npos) << "no rerun was needed: " << out["alone"].reason;
}

TEST_F(KernelLogTest, SplatOfATaskOutsideTheRunFailsNoCase) {
  add("outside", "test_kmsg_splat", {{"who", std::string("outside")}});
  add("bystander", "test_kmsg_sleep");
  std::vector<std::string> outside;
  auto out = run(2, &outside);
  for (auto id : {"outside", "bystander"}) EXPECT_EQ(out[id].verdict_name(), "pass") << out[id].reason;
  ASSERT_EQ(outside.size(), 1u);
  EXPECT_NE(outside[0].find("a task outside this run: pid 1 (systemd)"), std::string::npos) << outside[0];
  EXPECT_TRUE(test::any_contains(out["outside"].notes, "not this case's"));
}

TEST_F(KernelLogTest, AnonymousSplatBesideAnotherRunsOpenCaseIsOutsideWhenOursDoNotBringItBack) {
  kmsg_line("aioharness: begin other.case@libaio run=zzzzz", 1);  // another harness has a case open
  add("once", "test_kmsg_splat", {{"who", std::string("worker")}, {"once", scratch.path + "/ran"}});
  std::vector<std::string> outside;
  auto out = run(1, &outside);
  EXPECT_EQ(out["once"].verdict_name(), "pass") << out["once"].reason;
  ASSERT_EQ(outside.size(), 1u);
  EXPECT_NE(outside[0].find("another run's case was open"), std::string::npos) << outside[0];
}

TEST_F(KernelLogTest, TaintChangeGoesToTheCaseInFlight) {
  add("tainter", "test_kmsg_splat", {{"taint", taint_file}, {"delay_ms", int64_t{0}}});
  auto out = run(1);
  EXPECT_EQ(out["tainter"].verdict_name(), "fail");
  EXPECT_NE(out["tainter"].reason.find("taint changed 0 -> 512"), std::string::npos) << out["tainter"].reason;
}
