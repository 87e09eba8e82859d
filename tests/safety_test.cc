// The harness as a security and data-safety boundary (issue 19). It runs as
// root, replays an undo journal, changes machine-wide sysctls and writes to
// block devices, so each test here plays a hostile or careless user and
// asserts what the harness refuses or restores: a planted journal or state
// directory writes and deletes nothing; a damaged journal is reported and
// the rest still runs; overlapping runs leave every sysctl at its original;
// a SIGKILLed run leaves no live child; a mounted or held device is refused;
// a signal at any point (SIGPIPE included) tears everything down; a sysctl
// policy touches only what it is about. Every test that needs root skips
// without it; each harness run gets its own state directory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/loop.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "system/journal.h"
#include "system/child.h"
#include "system/device_guard.h"
#include "system/settings.h"
#include "system/trusted_path.h"
#include "test_util.h"

namespace aioh {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kAioMaxNr = "/proc/sys/fs/aio-max-nr";
constexpr const char* kAioNr = "/proc/sys/fs/aio-nr";
constexpr uid_t kNobody = 65534;

#define NEED_ROOT() \
  if (geteuid() != 0) GTEST_SKIP() << "needs root"

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string first_line(const std::string& path) {
  std::string s = slurp(path);
  return s.substr(0, s.find('\n'));
}

void put(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

// A private state directory for one test's harness runs.
struct State {
  test::TempDir d;
  std::string path = d.path + "/state";
  std::string env() const { return "AIOH_STATE_DIR=" + path + " "; }
  std::vector<std::string> journals() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(path, ec))
      if (e.path().extension() == ".journal") out.push_back(e.path().filename());
    return out;
  }
};

test::Run harness(const std::string& env, const std::string& args) {
  return test::run_cmd(env + test::harness_bin() + " --color never " + args);
}

// A harness started in the background, its output in a file.
struct Bg {
  pid_t pid = -1;
  std::string out;
  Bg(const std::string& env_and_args, const std::string& out_path) : out(out_path) {
    pid = fork();
    if (pid == 0) {
      std::string cmd = "exec env " + env_and_args + " >" + out_path + " 2>&1";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
      _exit(127);
    }
  }
  int wait() {
    int st = 0;
    waitpid(pid, &st, 0);
    pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  ~Bg() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  std::string text() const { return slurp(out); }
};

bool wait_for(const std::function<bool()>& cond, double seconds) {
  auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (auto& t : fs::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
    std::istringstream is(slurp(t.path().string() + "/children"));
    pid_t c;
    while (is >> c) out.push_back(c);
  }
  return out;
}

std::vector<pid_t> descendants_of(pid_t pid) {
  std::vector<pid_t> out;
  for (pid_t c : children_of(pid)) {
    out.push_back(c);
    for (pid_t g : descendants_of(c)) out.push_back(g);
  }
  return out;
}

// Mount points (from mountinfo) and loop backing files under `dir`.
std::vector<std::string> mounts_under(const std::string& dir) {
  std::vector<std::string> out;
  std::istringstream is(slurp("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(is, line)) {
    std::istringstream ls(line);
    std::string f[5];
    for (auto& x : f) ls >> x;
    if (f[4].rfind(dir, 0) == 0) out.push_back(f[4]);
  }
  return out;
}

std::vector<std::string> loops_under(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/sys/block", ec)) {
    std::string b = first_line(e.path().string() + "/loop/backing_file");
    if (!b.empty() && b.rfind(dir, 0) == 0) out.push_back(e.path().filename().string() + " -> " + b);
  }
  return out;
}

bool empty_dir(const std::string& dir) { return fs::is_empty(dir); }

// Runs fn as uid/gid 65534 in a child; its exit status (-1 if it could not drop).
int as_nobody(const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setresgid(kNobody, kNobody, kNobody) != 0 || setresuid(kNobody, kNobody, kNobody) != 0) _exit(99);
    _exit(fn());
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) != 99 ? WEXITSTATUS(st) : -1;
}

// A canary a hostile journal aims at: a root-owned private directory (a
// valid scratch-root name) with a file in it.
struct Canary {
  test::TempDir d;
  std::string file = d.path + "/keep";
  Canary() { put(file, "intact"); }
  bool intact() const { return slurp(file) == "intact"; }
};

// A journal that, replayed, would delete the canary and write into it.
std::string hostile_journal(const Canary& c) {
  return fmt::format(
      "H\taioharness-journal\t2\t1\t1\nR\t{0}\nP\t1\t1\nA\t1\t1\tremove_tree\t{0}\nA\t2\t1\tsysctl\t{1}\tpwned\n", c.d.path,
      c.file);
}

// ---- 1. A state directory root owns --------------------------------------

TEST(SafetyStateDir, RootsDefaultIsAPrivateDirectoryUnderRun) {
  NEED_ROOT();
  unsetenv("AIOH_STATE_DIR");
  EXPECT_EQ(Journal::state_dir(), "/run/aioharness");
  // Any command makes it (and recovers there, whatever other runs left).
  auto r = harness("env -u AIOH_STATE_DIR ", "--list --filter 'errors.*'");
  EXPECT_EQ(r.status, 0) << r.out;
  struct stat st {};
  ASSERT_EQ(lstat("/run/aioharness", &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 077, 0u) << "mode " << std::oct << (st.st_mode & 07777);
}

TEST(SafetyStateDir, PlantedDirectoryOfAnotherUserWritesAndDeletesNothing) {
  NEED_ROOT();
  Canary canary;
  std::string journal = hostile_journal(canary);
  // The attacker (uid 65534) makes the state directory first and plants a
  // journal in it, as a local user could under a world-writable /var/tmp.
  char tmpl[] = "/tmp/aioh-plant-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string plant = tmpl;
  ASSERT_EQ(rmdir(plant.c_str()), 0);
  int made = as_nobody([&] {
    if (mkdir(plant.c_str(), 0755) != 0) return 1;
    std::ofstream(plant + "/run-1-999999999999.journal") << journal;
    return 0;
  });
  if (made < 0) GTEST_SKIP() << "cannot become uid 65534";
  ASSERT_EQ(made, 0);
  for (const char* args : {"--cleanup", "--list"}) {
    auto r = harness("AIOH_STATE_DIR=" + plant + " ", args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find("state directory refused"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("owned by uid 65534"), std::string::npos) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
  EXPECT_TRUE(canary.intact()) << "the planted journal was replayed";
  EXPECT_EQ(slurp(plant + "/run-1-999999999999.journal"), journal) << "the planted journal was changed or deleted";
  fs::remove_all(plant);
}

TEST(SafetyStateDir, PlantedJournalFilesAreRefusedEachWithTheReason) {
  NEED_ROOT();
  Canary canary;
  State s;
  ASSERT_EQ(mkdir(s.path.c_str(), 0700), 0);
  std::string journal = hostile_journal(canary);
  test::TempDir elsewhere;
  // Owned by another user; a symlink to a root-owned file; group-writable;
  // a hard link to a root-owned file.
  put(s.path + "/run-1-999999999999.journal", journal);
  ASSERT_EQ(chown((s.path + "/run-1-999999999999.journal").c_str(), kNobody, kNobody), 0);
  put(elsewhere.path + "/target", journal);
  ASSERT_EQ(chmod((elsewhere.path + "/target").c_str(), 0600), 0);
  ASSERT_EQ(symlink((elsewhere.path + "/target").c_str(), (s.path + "/run-2-999999999999.journal").c_str()), 0);
  put(s.path + "/run-3-999999999999.journal", journal);
  ASSERT_EQ(chmod((s.path + "/run-3-999999999999.journal").c_str(), 0620), 0);
  put(elsewhere.path + "/linked", journal);
  ASSERT_EQ(chmod((elsewhere.path + "/linked").c_str(), 0600), 0);
  ASSERT_EQ(link((elsewhere.path + "/linked").c_str(), (s.path + "/run-4-999999999999.journal").c_str()), 0);

  auto r = harness(s.env(), "--cleanup");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("run-1-999999999999.journal: owned by uid 65534"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("run-2-999999999999.journal: ELOOP"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("run-3-999999999999.journal: writable by group or others"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("run-4-999999999999.journal: 2 hard links"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("remove_tree"), std::string::npos) << "a refused journal's steps were run: " << r.out;
  EXPECT_TRUE(canary.intact());
  EXPECT_EQ(s.journals().size(), 4u) << "a refused journal was deleted";
  EXPECT_EQ(slurp(elsewhere.path + "/target"), journal);
}

TEST(SafetyStateDir, GroupWritableSymlinkedOrRelativeStateDirIsRefused) {
  NEED_ROOT();
  test::TempDir d;
  std::string open = d.path + "/open";
  ASSERT_EQ(mkdir(open.c_str(), 0770), 0);
  ASSERT_EQ(chmod(open.c_str(), 0770), 0);
  std::string real = d.path + "/real", link = d.path + "/link";
  ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  struct Case {
    std::string dir, why;
  };
  for (auto& c : {Case{open, "writable by group or others"}, Case{link, "a symlink (not followed)"},
                  Case{link + "/state", "a symlink (not followed)"}, Case{"relative/state", "not a clean absolute path"}}) {
    auto r = harness("AIOH_STATE_DIR=" + c.dir + " ", "--cleanup");
    EXPECT_EQ(r.status, 2) << c.dir << ": " << r.out;
    EXPECT_NE(r.out.find(c.why), std::string::npos) << c.dir << ": " << r.out;
  }
  EXPECT_TRUE(empty_dir(real)) << "something was created through the symlink";
}

TEST(SafetyStateDir, StepsOutsideWhatTheHarnessCreatesAreRefusedAndTheRestRuns) {
  NEED_ROOT();
  Canary canary;
  State s;
  ASSERT_EQ(mkdir(s.path.c_str(), 0700), 0);
  test::TempDir own;  // the run's declared root: its removal is allowed
  std::string j = fmt::format("H\taioharness-journal\t2\t1\t1\nR\t{}\nR\t/\nR\t/etc\nP\t1\t1\n", own.path);
  std::vector<std::string> bad = {
      "sysctl\t" + canary.file + "\tpwned",
      "sysctl\t/proc/sys/../../" + canary.file.substr(1) + "\tpwned",
      "remove_tree\t" + canary.d.path,
      "umount\t/",
      "umount\t" + canary.d.path + "/x",
      "loop_detach\t/dev/vda\t" + own.path + "/img",
      "loop_detach\t/dev/loop0\t" + canary.file,
      "dm_remove\tvg0-root",
      "nullb_remove\t" + canary.d.path,
      "module_unload\text4",
  };
  long id = 1;
  for (auto& b : bad) j += fmt::format("A\t{}\t1\t{}\n", id++, b);
  j += fmt::format("A\t{}\t1\tremove_tree\t{}\n", id++, own.path);
  put(s.path + "/run-1-999999999999.journal", j);
  chmod((s.path + "/run-1-999999999999.journal").c_str(), 0600);

  auto r = harness(s.env(), "--cleanup");
  EXPECT_EQ(r.status, 1) << r.out;
  size_t refused = 0;
  for (size_t at = 0; (at = r.out.find(": refused: ", at)) != std::string::npos; at++) refused++;
  EXPECT_EQ(refused, bad.size()) << r.out;
  EXPECT_NE(r.out.find("line 3: not a scratch root"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("line 4: not a scratch root"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("remove_tree " + own.path + ": ok"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(own.path)) << "the allowed step did not run";
  EXPECT_TRUE(canary.intact());
  EXPECT_EQ(s.journals().size(), 1u) << "a journal with refused steps is kept for the admin to see";
}

TEST(SafetyStateDir, ARootOfAnotherUserIsNotRemoved) {
  NEED_ROOT();
  test::TempDir d;
  std::string theirs = d.path + "/aioharness-theirs";
  ASSERT_EQ(mkdir(theirs.c_str(), 0700), 0);
  put(theirs + "/file", "x");
  ASSERT_EQ(chown(theirs.c_str(), kNobody, kNobody), 0);
  std::string err = system::remove_tree_below(theirs, theirs);
  EXPECT_NE(err.find("owned by uid 65534"), std::string::npos) << err;
  EXPECT_TRUE(fs::exists(theirs + "/file"));
  // A symlink planted where a root's subdirectory was is not followed.
  std::string mine = d.path + "/aioharness-mine";
  ASSERT_EQ(mkdir(mine.c_str(), 0700), 0);
  test::TempDir victim;
  put(victim.path + "/keep", "x");
  ASSERT_EQ(symlink(victim.path.c_str(), (mine + "/case").c_str()), 0);
  EXPECT_EQ(system::remove_tree_below(mine, mine), "");
  EXPECT_TRUE(fs::exists(victim.path + "/keep")) << "the removal followed a symlink";
  EXPECT_FALSE(fs::exists(mine));
}

// ---- 2. A journal that survives damage -----------------------------------

TEST(SafetyJournal, TornAndUnknownLinesAreReportedAndSkippedAndCleanupStillRuns) {
  NEED_ROOT();
  State s;
  ASSERT_EQ(mkdir(s.path.c_str(), 0700), 0);
  test::TempDir root;
  put(s.path + "/run-abc.journal", "");
  put(s.path + "/run-5-999999999999.journal", "");
  put(s.path + "/run-6-999999999999.journal",
      fmt::format("H\taioharness-journal\t2\t6\t1\nR\t{0}\nA\tNaN\t6\tremove_tree\t{0}\nA\t7\t6\tremove_tree\t{0}\n"
                  "D\tx\nQ\tsomething\nA\t8\t6\tumo",
                  root.path));
  for (auto& j : s.journals()) chmod((s.path + "/" + j).c_str(), 0600);

  auto r = harness(s.env(), "--cleanup");
  EXPECT_EQ(r.status, 1) << "damage is reported (exit 1), never an abort: " << r.out;
  EXPECT_NE(r.out.find("run-abc.journal: not a name this harness writes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("run-5-999999999999.journal empty"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("line 3: unreadable, skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("line 5: unreadable, skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("line 6: unreadable, skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("line 7: torn (no newline at the end)"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(root.path)) << "the valid step of a damaged journal did not run: " << r.out;
  // Every other command still works beside the damage.
  auto list = harness(s.env(), "--list --filter 'errors.*'");
  EXPECT_EQ(list.status, 0) << list.out;
  EXPECT_EQ(s.journals(), std::vector<std::string>{"run-abc.journal"}) << "journals whose steps all ran are removed";
}

// ---- 3. One owner per global setting -------------------------------------

TEST(SafetySettings, AnOriginalLeftByAKilledRunIsTakenOverNotMistakenForTheOldValue) {
  NEED_ROOT();
  std::string original = first_line(kAioMaxNr);
  long v = std::stol(original);
  Journal::run_journal();
  // Run A changes fs.aio-max-nr and is killed with its change in force.
  pid_t a = fork();
  if (a == 0) {
    auto* ch = new system::SysctlChange;
    _exit(ch->set(kAioMaxNr, std::to_string(v + 1)).empty() ? 0 : 1);
  }
  int st = 0;
  waitpid(a, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ASSERT_EQ(first_line(kAioMaxNr), std::to_string(v + 1));
  // Run B reads the leftover v+1 today; it must take over A's original.
  {
    system::SysctlChange b;
    ASSERT_EQ(b.set(kAioMaxNr, std::to_string(v + 2)), "");
    EXPECT_EQ(b.original(), original);
    EXPECT_NE(b.lock_note().find(fmt::format("took over the original {} = {} left by pid {}", kAioMaxNr, original, a)),
              std::string::npos)
        << b.lock_note();
    EXPECT_EQ(b.restore(), "");
  }
  EXPECT_EQ(first_line(kAioMaxNr), original);
  // A's journal entry finds nothing open: it must not write anything back.
  auto undone = Journal::run_journal().undo_pid(a);
  ASSERT_EQ(undone.size(), 1u);
  EXPECT_EQ(undone[0], fmt::format("sysctl {} {}: ok", kAioMaxNr, original));
  EXPECT_EQ(first_line(kAioMaxNr), original);
}

TEST(SafetySettings, ASecondChangerWaitsThenGivesUpNamingTheHolder) {
  NEED_ROOT();
  int p[2], q[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(pipe(q), 0);
  pid_t holder = fork();
  if (holder == 0) {
    close(p[0]);
    close(q[1]);
    bool ok = system::acquire_settings_lock("a test holding it").empty();
    (void)!write(p[1], ok ? "y" : "n", 1);
    char c;
    (void)!read(q[0], &c, 1);  // until the test lets go
    _exit(0);
  }
  close(p[1]);
  close(q[0]);
  char c = 0;
  ASSERT_EQ(read(p[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  setenv("AIOH_LOCK_WAIT", "0.3", 1);
  auto t0 = Clock::now();
  std::string err = system::acquire_settings_lock("sysctl test");
  double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_NE(err.find(fmt::format("held by pid {}", holder)), std::string::npos) << err;
  EXPECT_NE(err.find("a test holding it"), std::string::npos) << err;
  EXPECT_NE(err.find("gave up after 0.3 s"), std::string::npos) << err;
  EXPECT_GE(waited, 0.3);
  close(q[1]);
  waitpid(holder, nullptr, 0);
  EXPECT_EQ(system::acquire_settings_lock("sysctl test"), "");
  system::release_settings_lock();
  unsetenv("AIOH_LOCK_WAIT");
}

TEST(SafetySettings, OverlappingPolicyRunsLeaveAioMaxNrAtItsOriginal) {
  NEED_ROOT();
  State s;
  std::string original = first_line(kAioMaxNr);
  ASSERT_NE(original, "0");
  std::string bin = s.env() + test::harness_bin() + " --color never --policy aio-max-nr-exhausted";
  Bg a(bin + " --filter 'cancel.*@libaio'", s.d.path + "/a.out");
  // B starts while A's probe holds fs.aio-max-nr at 0: it must wait for A,
  // then record the real original, not A's 0.
  ASSERT_TRUE(wait_for([&] { return first_line(kAioMaxNr) == "0" || waitpid(a.pid, nullptr, WNOHANG) != 0; }, 60));
  ASSERT_EQ(first_line(kAioMaxNr), "0") << "A never held its policy: " << a.text();
  Bg b(bin + " --probe", s.d.path + "/b.out");
  int sb = b.wait();
  int sa = a.wait();
  EXPECT_EQ(sb, 0) << b.text();
  EXPECT_TRUE(sa == 0 || sa == 4) << a.text();
  EXPECT_NE(b.text().find("waiting up to"), std::string::npos) << "B did not wait for A: " << b.text();
  EXPECT_NE(b.text().find("global-settings lock"), std::string::npos) << b.text();
  EXPECT_NE(b.text().find("\"aio_max_nr\": 0"), std::string::npos) << "B's probe did not meet its policy";
  EXPECT_EQ(first_line(kAioMaxNr), original);
}

TEST(SafetySettings, ASysctlFaultRowBesideAKilledChangerRestoresTheTrueOriginal) {
  NEED_ROOT();
  State s;
  std::string original = first_line(kAioMaxNr);
  long v = std::stol(original);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  Journal::run_journal();  // the child's entry goes to this process's journal
  // Another run holds fs.aio-max-nr changed (under the lock) ...
  pid_t other = fork();
  if (other == 0) {
    close(p[0]);
    auto* ch = new system::SysctlChange;
    bool ok = ch->set(kAioMaxNr, std::to_string(v + 7)).empty();
    (void)!write(p[1], ok ? "y" : "n", 1);
    pause();
    _exit(0);
  }
  close(p[1]);
  std::unique_ptr<pid_t, void (*)(pid_t*)> kill_other(&other, [](pid_t* pid) {
    if (kill(*pid, SIGKILL) == 0) waitpid(*pid, nullptr, 0);  // a failed assertion must not leave the lock held
  });
  char c = 0;
  ASSERT_EQ(read(p[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  // ... while a run of the sysctl fault row starts; it waits for the lock:
  // its probe (which holds the settings in use) or, had the change come
  // later, its case.
  std::string out = s.d.path + "/r.jsonl";
  Bg r(s.env() + test::harness_bin() + " --color never --filter 'faults.aio-max-nr-exhausted@libaio' --format jsonl --output " + out,
       s.d.path + "/r.out");
  // The harness's wait line before its probe, or the case's child (its own
  // process group; the probe's children are not) sleeping in the lock's wait.
  ASSERT_TRUE(wait_for(
      [&] {
        if (r.text().find("to end before the probe") != std::string::npos) return true;
        for (pid_t ch : children_of(r.pid))
          if (getpgid(ch) == ch && first_line(fmt::format("/proc/{}/wchan", ch)).find("nanosleep") != std::string::npos)
            return true;
        return false;
      },
      60))
      << r.text();
  // The other run dies with its change in force.
  kill_other.reset();
  EXPECT_EQ(r.wait(), 0) << r.text();
  Journal::run_journal().undo_pid(other);  // its journal entry: nothing left to restore
  std::string results = slurp(out);
  bool passed = false;
  std::istringstream lines(results);
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("id", "") == "faults.aio-max-nr-exhausted@libaio") passed = j.value("verdict", "") == "pass";
  }
  EXPECT_TRUE(passed) << results;
  EXPECT_NE(results.find(fmt::format("took over the original {} = {}", kAioMaxNr, original)), std::string::npos) << results;
  EXPECT_EQ(first_line(kAioMaxNr), original);
}

// ---- 4. No orphans --------------------------------------------------------

TEST(SafetyChildren, AHardenedChildDiesWithItsParentAndOneOfAGoneParentExits) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t middle = fork();
  if (middle == 0) {
    pid_t me = getpid();
    pid_t g = fork();
    if (g == 0) {
      system::harden_case_child(me);
      pause();
      _exit(0);
    }
    (void)!write(p[1], &g, sizeof g);
    _exit(0);  // the "harness" dies
  }
  close(p[1]);
  pid_t grandchild = 0;
  ASSERT_EQ(read(p[0], &grandchild, sizeof grandchild), static_cast<ssize_t>(sizeof grandchild));
  waitpid(middle, nullptr, 0);
  EXPECT_TRUE(wait_for([&] { return system::process_start_time(grandchild).empty(); }, 10))
      << "the child outlived its parent";
  // The race: a parent that is gone before the child checks.
  pid_t c = fork();
  if (c == 0) {
    system::harden_case_child(getppid() + 100000);
    _exit(0);
  }
  int st = 0;
  waitpid(c, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 125);
}

TEST(SafetyChildren, ASigkilledHarnessLeavesNoLiveChildAndAioNrReturns) {
  NEED_ROOT();
  State s;
  test::TempDir scratch;
  long before = std::stol(first_line(kAioNr));
  // A libaio case that holds its context while a FUSE read is delayed 1.5 s.
  Bg h(s.env() + test::harness_bin() + " --color never --scratch " + scratch.path +
           " --filter 'faults.fs-read-delay-timeout@libaio'",
       s.d.path + "/h.out");
  pid_t harness_pid = h.pid;
  std::vector<pid_t> kids;
  ASSERT_TRUE(wait_for(
      [&] {
        // The case's child (its own process group; forked by the harness's
        // fork server) with its fault fs daemon, and the context in use.
        bool in_case = false;
        for (pid_t c : descendants_of(harness_pid)) in_case |= getpgid(c) == c && !children_of(c).empty();
        kids = descendants_of(harness_pid);
        return in_case && std::stol(first_line(kAioNr)) > before;
      },
      60))
      << h.text();
  std::map<pid_t, std::string> starts;
  for (pid_t k : kids) starts[k] = system::process_start_time(k);
  kill(harness_pid, SIGKILL);
  h.wait();
  EXPECT_TRUE(wait_for(
      [&] {
        for (auto& [k, start] : starts)
          if (system::process_alive(k, start)) return false;
        return true;
      },
      10))
      << "a case child outlived the SIGKILLed harness";
  EXPECT_TRUE(wait_for([&] { return std::stol(first_line(kAioNr)) <= before; }, 10))
      << "fs.aio-nr " << first_line(kAioNr) << " (was " << before << ")";
  // The next run's recovery undoes what the dead run's children left (the
  // fault fs mount) and the scratch directory.
  auto r = harness(s.env(), "--cleanup");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(mounts_under(scratch.path).empty());
  EXPECT_TRUE(empty_dir(scratch.path)) << r.out;
  EXPECT_TRUE(s.journals().empty());
}

TEST(SafetyChildren, RecoveryStopsAProcessOfADeadRunThatStillRuns) {
  NEED_ROOT();
  State s;
  ASSERT_EQ(mkdir(s.path.c_str(), 0700), 0);
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  std::string gone_start = system::process_start_time(gone);
  waitpid(gone, nullptr, 0);
  pid_t left = fork();
  if (left == 0) {
    pause();
    _exit(0);
  }
  std::string name = fmt::format("run-{}-{}.journal", gone, gone_start.empty() ? "1" : gone_start);
  put(s.path + "/" + name, fmt::format("H\taioharness-journal\t2\t{0}\t1\nP\t{1}\t{2}\n", gone, left,
                                        system::process_start_time(left)));
  chmod((s.path + "/" + name).c_str(), 0600);
  auto r = harness(s.env(), "--cleanup");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(fmt::format("stopped pid {}", left)), std::string::npos) << r.out;
  int st = 0;
  waitpid(left, &st, 0);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

// ---- 5. Device safety -----------------------------------------------------

using test::Loop;

#define NEED_LOOP(l) \
  if ((l).dev.empty()) GTEST_SKIP() << "no loop device here"

TEST(SafetyDevice, AMountedDeviceIsRefusedNamingTheMount) {
  NEED_ROOT();
  Loop l;
  NEED_LOOP(l);
  ASSERT_TRUE(l.mkfs_and_mount());
  std::string why = system::device_refusal(l.dev);
  EXPECT_NE(why.find("is mounted on " + l.mnt), std::string::npos) << why;
  int fd = -1;
  EXPECT_NE(system::claim_device(l.dev, &fd), "");
  EXPECT_EQ(fd, -1);
}

TEST(SafetyDevice, AnExclusivelyHeldDeviceIsRefused) {
  NEED_ROOT();
  Loop l;
  NEED_LOOP(l);
  int holder = open(l.dev.c_str(), O_RDWR | O_EXCL | O_CLOEXEC);
  ASSERT_GE(holder, 0);
  int fd = -1;
  std::string why = system::claim_device(l.dev, &fd);
  EXPECT_NE(why.find("in use: another opener holds it exclusively"), std::string::npos) << why;
  close(holder);
}

TEST(SafetyDevice, AFreeDeviceIsAcceptedAndHeldExclusivelyForTheRun) {
  NEED_ROOT();
  Loop l;
  NEED_LOOP(l);
  int fd = -1;
  ASSERT_EQ(system::claim_device(l.dev, &fd), "");
  ASSERT_GE(fd, 0);
  // While held, nothing else can claim (or mount) it.
  EXPECT_LT(open(l.dev.c_str(), O_RDWR | O_EXCL | O_CLOEXEC), 0);
  EXPECT_EQ(errno, EBUSY);
  close(fd);
}

TEST(SafetyDevice, TheRootFilesystemsDeviceIsRefused) {
  struct stat st {};
  ASSERT_EQ(stat("/", &st), 0);
  if (major(st.st_dev) == 0) GTEST_SKIP() << "the root filesystem has no block device here";
  std::string node;
  for (auto& e : fs::directory_iterator("/dev")) {
    struct stat d {};
    if (stat(e.path().c_str(), &d) == 0 && S_ISBLK(d.st_mode) && d.st_rdev == st.st_dev) node = e.path();
  }
  if (node.empty()) GTEST_SKIP() << "no /dev node for the root filesystem's device";
  std::string why = system::device_refusal(node);
  EXPECT_NE(why.find("holds the root filesystem"), std::string::npos) << why;
}

TEST(SafetyDevice, LvmAndRaidMemberLabelsAreRefused) {
  NEED_ROOT();
  struct Label {
    off_t at;
    std::string bytes, why;
  };
  std::string lvm(32, '\0');
  lvm.replace(0, 8, "LABELONE");
  lvm.replace(24, 8, "LVM2 001");
  for (auto& lab : {Label{512, lvm, "an LVM2 physical-volume label"},
                    Label{4096, std::string("\xfc\x4e\x2b\xa9", 4), "an md RAID superblock (v1.1/v1.2"}}) {
    Loop l;
    NEED_LOOP(l);
    int bfd = open(l.img.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_EQ(pwrite(bfd, lab.bytes.data(), lab.bytes.size(), lab.at), static_cast<ssize_t>(lab.bytes.size()));
    close(bfd);
    ioctl(l.fd, BLKFLSBUF, 0);
    std::string why = system::device_refusal(l.dev);
    EXPECT_NE(why.find(lab.why), std::string::npos) << why;
  }
}

TEST(SafetyDevice, AnActiveSwapIsRefused) {
  NEED_ROOT();
  Loop l;
  NEED_LOOP(l);
  if (test::run_cmd("mkswap " + l.dev).status != 0) GTEST_SKIP() << "no mkswap";
  if (swapon(l.dev.c_str(), 0) != 0) GTEST_SKIP() << "swapon refused here: " << strerror(errno);
  std::string why = system::device_refusal(l.dev);
  swapoff(l.dev.c_str());
  EXPECT_NE(why.find("is an active swap device"), std::string::npos) << why;
}

TEST(SafetyDevice, TheHarnessRefusesAMountedDeviceAndItsFilesystemStaysClean) {
  NEED_ROOT();
  Loop l;
  NEED_LOOP(l);
  ASSERT_TRUE(l.mkfs_and_mount());
  put(l.mnt + "/marker", "data");
  State s;
  auto r = harness(s.env(), "--device " + l.dev + " --destructive --filter 'dio.*'");
  EXPECT_NE(r.out.find("--device " + l.dev + " refused: " + l.dev), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("is mounted on " + l.mnt), std::string::npos) << r.out;
  EXPECT_EQ(r.status, 2) << r.out;  // bad input: the user named it
  EXPECT_EQ(r.out.find("PASS"), std::string::npos) << "cases ran on the mounted device: " << r.out;
  EXPECT_EQ(slurp(l.mnt + "/marker"), "data");
  l.umount_it();
  auto fsck = test::run_cmd("e2fsck -fn " + l.dev);
  EXPECT_EQ(fsck.status, 0) << fsck.out;
}

// ---- 6. Signals from the first instruction --------------------------------

TEST(SafetySignals, ASigpipeFromAClosedReaderTearsEverythingDown) {
  NEED_ROOT();
  State s;
  test::TempDir scratch;
  auto r = test::run_cmd("bash -c '" + s.env() + test::harness_bin() + " --color never --scratch " + scratch.path +
                         " --filter \"dio.*\" 2>" + s.d.path + "/err | head -3; echo rc=${PIPESTATUS[0]}'");
  std::string err = slurp(s.d.path + "/err");
  EXPECT_NE(r.out.find("rc=141"), std::string::npos) << r.out << err;
  EXPECT_NE(err.find("stopped by SIGPIPE"), std::string::npos) << err;
  EXPECT_TRUE(mounts_under(scratch.path).empty()) << err;
  EXPECT_TRUE(loops_under(scratch.path).empty()) << err;
  EXPECT_TRUE(empty_dir(scratch.path)) << err;
  EXPECT_TRUE(s.journals().empty()) << err;
}

// SIGTERM when `ready` first holds (probing, or making targets).
// With `output`, the run writes JSON there, which must be a finished document.
void sigterm_at(const std::function<bool(const std::string& scratch)>& ready, const std::string& expect_when,
                bool output = false) {
  State s;
  test::TempDir scratch;
  std::string json = s.d.path + "/run.json";
  Bg h(s.env() + test::harness_bin() + " --color never --scratch " + scratch.path + " --filter 'dio.*'" +
           (output ? " --format json --output " + json : ""),
       s.d.path + "/out");
  ASSERT_TRUE(wait_for([&] { return ready(scratch.path); }, 60)) << h.text();
  kill(h.pid, SIGTERM);
  EXPECT_EQ(h.wait(), 128 + SIGTERM) << h.text();
  EXPECT_NE(h.text().find("stopped by SIGTERM " + expect_when), std::string::npos) << h.text();
  EXPECT_TRUE(mounts_under(scratch.path).empty()) << h.text();
  EXPECT_TRUE(loops_under(scratch.path).empty()) << h.text();
  EXPECT_TRUE(empty_dir(scratch.path)) << h.text();
  EXPECT_TRUE(s.journals().empty()) << h.text();
  if (output) {
    auto doc = nlohmann::json::parse(slurp(json), nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << "the output was not finalised: " << slurp(json);
  }
}

TEST(SafetySignals, ASigtermDuringTheProbeLeavesNothing) {
  NEED_ROOT();
  sigterm_at([](const std::string& scratch) { return !fs::is_empty(scratch); }, "during the probe");
}

TEST(SafetySignals, ASigtermWhileTargetsAreMadeLeavesNothing) {
  NEED_ROOT();
  // No case runs; the output file is finalised as after any stop.
  sigterm_at([](const std::string& scratch) { return !loops_under(scratch).empty(); }, "after 0 of", true);
}

TEST(SafetySignals, TheProbeLeavesNoJournalAndNoScratch) {
  State s;
  test::TempDir scratch;
  auto r = harness(s.env(), "--probe --scratch " + scratch.path);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(s.journals().empty());
  EXPECT_TRUE(empty_dir(scratch.path));
}

// ---- 7. A policy touches only what it is about ----------------------------

TEST(SafetyPolicy, IoUringDisabled1KeepsTheFuseProbeAndLeavesNoMount) {
  NEED_ROOT();
  if (access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/fuse";
  State s;
  test::TempDir scratch;
  std::string before = first_line("/proc/sys/kernel/io_uring_disabled");
  auto r = test::run_cmd(s.env() + test::harness_bin() + " --policy io_uring-disabled-1 --probe --scratch " + scratch.path,
                         true);
  ASSERT_EQ(r.status, 0) << r.out;
  auto env = nlohmann::json::parse(r.out);
  EXPECT_EQ(env["facts"]["fuse"], true) << env["info"].value("fuse_reason", "");
  EXPECT_EQ(env["interfaces"]["io_uring"]["available"], false);
  EXPECT_NE(env["interfaces"]["io_uring"]["reason"].get<std::string>().find("io_uring_disabled=1"), std::string::npos)
      << env["interfaces"]["io_uring"];
  EXPECT_TRUE(mounts_under(scratch.path).empty());
  EXPECT_TRUE(empty_dir(scratch.path));
  EXPECT_EQ(first_line("/proc/sys/kernel/io_uring_disabled"), before);
}

}  // namespace
}  // namespace aioh
