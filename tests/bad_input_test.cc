// Bad input, each class of it, given to the real binary: a malformed case
// table (parameters, interfaces, targets, faults, predicates, expectations,
// timeouts, files that are no tables), a bad flag, an unknown interface,
// case, filter or id, a bad --target/--device/--output/--scratch path. Each
// must end with exactly one line on stderr ("harness: ..." naming what is
// wrong), nothing on stdout, exit status 2, and nothing left behind: no
// scratch directory in the run's TMPDIR, no journal in its state directory,
// no loop device or mount under its TMPDIR, the global sysctls unchanged.
// A run interrupted after its targets exist shows the same for the signal
// path (exit 130, every target released).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace fs = std::filesystem;

namespace {

struct Outcome {
  int status = -1;  // exit status, or 128+N for a signal
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// What a harness run could leave behind, under the private directories a
// case gives it.
struct World {
  std::string aio_max_nr, io_uring_disabled;
  static World now() { return {slurp("/proc/sys/fs/aio-max-nr"), slurp("/proc/sys/kernel/io_uring_disabled")}; }
  bool operator==(const World&) const = default;
};

// Loop devices whose backing file, and mounts whose mount point, lie under dir.
std::vector<std::string> loops_and_mounts_under(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/sys/block", ec)) {
    std::string name = e.path().filename();
    if (name.rfind("loop", 0) != 0) continue;
    std::string backing = slurp(e.path().string() + "/loop/backing_file");
    if (backing.rfind(dir, 0) == 0) found.push_back("loop " + name + " on " + backing);
  }
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    std::istringstream in(line);
    std::string id, parent, devno, root, point;
    in >> id >> parent >> devno >> root >> point;
    if (point.rfind(dir, 0) == 0) found.push_back("mount " + point);
  }
  return found;
}

// One harness run with a private TMPDIR and state directory.
// A row of rw_one with these params (and extra keys, interfaces).
std::string rw_row(const std::string& params, const std::string& extra = "",
                   const std::string& interfaces = "[\"libaio\"]") {
  return "scenario = \"rw_one\"\ninterfaces = " + interfaces + "\nparams = { " + params +
         " }\nexpect = \"1@submit, 4096@completion\"\n" + extra;
}

class BadInput : public ::testing::Test {
 protected:
  aioh::test::TempDir tmp, state, work;

  // interrupt: send SIGINT once the first result is on stdout.
  Outcome run(const std::vector<std::string>& args, bool interrupt = false) {
    std::vector<std::string> argv = {aioh::test::harness_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    int out[2], err[2];
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
    pid_t pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      setenv("TMPDIR", tmp.path.c_str(), 1);
      setenv("AIOH_STATE_DIR", state.path.c_str(), 1);
      std::vector<char*> av;
      for (auto& a : argv) av.push_back(a.data());
      av.push_back(nullptr);
      execv(av[0], av.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    Outcome o;
    auto start = std::chrono::steady_clock::now();
    bool interrupted = false;
    pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
      if (ms > 120000) {  // a hang (a FIFO read, say) is a failure, not a stuck suite
        kill(pid, SIGKILL);
        ADD_FAILURE() << "harness did not finish within 120 s";
        break;
      }
      if (interrupt && !interrupted && o.out.find("\"verdict\"") != std::string::npos) {
        kill(pid, SIGINT);
        interrupted = true;
      }
      if (poll(p, 2, 100) <= 0) continue;
      for (int i = 0; i < 2; i++) {
        if (!(p[i].revents & (POLLIN | POLLHUP))) continue;
        char buf[4096];
        ssize_t n = read(p[i].fd, buf, sizeof buf);
        if (n <= 0) {
          close(p[i].fd);
          p[i].fd = -1;
          open_fds--;
        } else {
          (i ? o.err : o.out).append(buf, static_cast<size_t>(n));
        }
      }
    }
    for (auto& x : p)
      if (x.fd >= 0) close(x.fd);
    int st = 0;
    waitpid(pid, &st, 0);
    o.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return o;
  }

  // Nothing of the run is left: no scratch dir, no journal, no loop device
  // or mount, the sysctls as they were (another harness on the machine may
  // hold one for a moment: wait for it rather than blame this run).
  void expect_nothing_left(const World& before) {
    std::vector<std::string> left;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(tmp.path, ec)) left.push_back(e.path().filename());
    EXPECT_TRUE(left.empty()) << "left in TMPDIR: " << left.front();
    for (auto& e : fs::directory_iterator(state.path, ec))
      EXPECT_NE(e.path().extension(), ".journal") << "journal left: " << e.path();
    auto lm = loops_and_mounts_under(tmp.path);
    EXPECT_TRUE(lm.empty()) << lm.front();
    World after = World::now();
    for (int i = 0; i < 50 && !(after == before); i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      after = World::now();
    }
    EXPECT_EQ(after.aio_max_nr, before.aio_max_nr);
    EXPECT_EQ(after.io_uring_disabled, before.io_uring_disabled);
  }

  // The run is refused: exit 2, one line on stderr containing each of
  // `what`, nothing on stdout, nothing left behind.
  void refused(const std::vector<std::string>& args, const std::string& what) { refused_all(args, {what}); }
  void refused_all(const std::vector<std::string>& args, const std::vector<std::string>& what) {
    World before = World::now();
    Outcome o = run(args);
    std::string all;
    for (auto& a : args) all += " " + a;
    EXPECT_EQ(o.status, 2) << all << "\nstderr: " << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << all << "\nstderr: " << o.err;
    EXPECT_EQ(o.err.rfind("harness: ", 0), 0u) << all << "\nstderr: " << o.err;
    for (auto& w : what) EXPECT_NE(o.err.find(w), std::string::npos) << all << "\nwanted: " << w << "\nstderr: " << o.err;
    EXPECT_EQ(o.out, "") << all;
    expect_nothing_left(before);
  }

  // A case directory holding one table, t.toml, of one row: the row's keys
  // as given, each "key = value" on its own line.
  std::string table(const std::string& row_keys) {
    std::string dir = work.path + "/cases";
    fs::create_directories(dir);
    std::ofstream(dir + "/t.toml") << "area = \"t\"\n\n[[case]]\nid = \"x\"\nsource = \"a test\"\n" << row_keys;
    return dir;
  }
  // The table is refused with `what` (and the line names t.toml).
  void table_refused(const std::string& row_keys, const std::string& what) {
    refused_all({"--cases", table(row_keys), "-i", "libaio"}, {"t.toml:", what});
  }
  std::string good_cases() { return aioh::test::cases_dir(); }
};

// Each of these tables is refused at load: one line naming t.toml and what
// is wrong, exit 2, nothing run.
struct Refusal {
  const char* name;
  std::string row;
  const char* what;
};

const Refusal kRefusals[] = {
    // parameters, checked against the scenario's declarations
    {"ParamUnknownName", rw_row("bogus_param = 1"), "scenario 'rw_one' has no parameter 'bogus_param'"},
    {"ParamWrongType", "scenario = \"wait_idle\"\ninterfaces = [\"libaio\"]\nparams = { timeout_ms = \"ten\" }\n"
        "expect = \"0@wait\"\n",
        "param 'timeout_ms' of scenario 'wait_idle': must be an integer"},
    {"ParamOutOfRange", "scenario = \"wait_idle\"\ninterfaces = [\"libaio\"]\nparams = { timeout_ms = -5 }\n"
        "expect = \"0@wait\"\n",
        "-5 is out of range [0, 600000]"},
    {"ParamNotAmongChoices", rw_row("op = \"reed\""), "'reed' is not one of: read, write"},
    {"ParamListItemNotAmongChoices", "scenario = \"kaio_submit_one\"\ninterfaces = [\"libaio\"]\nparams = { rwf = \"HIPRI|BOGUS\" }\n"
        "expect = \"1@submit\"\n",
        "'BOGUS' (in 'HIPRI|BOGUS') is not one of"},
    {"ParamRequiredMissing", "scenario = \"posix_suspend_list\"\ninterfaces = [\"posix-aio\"]\nexpect = \"0@wait\"\n",
        "scenario 'posix_suspend_list' needs parameter 'shape'"},
    {"ParamIntegerListItemNotANumber", "scenario = \"dio_sweep\"\ninterfaces = [\"libaio\"]\ntargets = [\"tmpfs\"]\n"
        "params = { op = \"readv\", segs = \"512,x\" }\nexpect = \"1@submit\"\n",
        "'x' (in '512,x') is not an integer"},
    // interfaces, xfail, targets
    {"InterfaceNamedTwice", rw_row("", "", "[\"libaio\", \"libaio\"]"), "interface 'libaio' named twice"},
    {"InterfaceTwiceThroughAll", rw_row("", "", "[\"all\", \"libaio\"]"), "interface 'libaio' named twice (\"all\" includes"},
    {"XfailUnknownInterface", rw_row("", "xfail = { reason = \"r\", ref = \"x\", interfaces = [\"bogus\"] }\n"),
        "unknown interface 'bogus' in xfail.interfaces"},
    {"XfailInterfaceTheRowDoesNotRun", rw_row("", "xfail = { reason = \"r\", ref = \"x\", interfaces = [\"io_uring\"] }\n"),
        "xfail.interfaces names 'io_uring', which the row does not run on"},
    {"UnknownTarget", "scenario = \"dio_sweep\"\ninterfaces = [\"libaio\"]\ntargets = [\"floppy\"]\nexpect = \"1@submit\"\n",
        "unknown target 'floppy'"},
    // faults
    {"FaultWithoutTrigger", rw_row("", "fault = { layer = \"syscall\", target = \"io_submit\", effect = \"EAGAIN\" }\n"),
        "fault needs 'trigger'"},
    {"FaultLimitNotANumber", rw_row("", "fault = { layer = \"rlimit\", target = \"fsize\", effect = \"limit:abc\", trigger = \"always\" }\n"),
        "rlimit effect 'limit:abc' is not limit:BYTES"},
    {"FaultFailsOnOneTarget", rw_row("", "fault = { layer = \"syscall\", target = \"io_submit\", effect = \"EAGAIN\", trigger = \"always\", "
        "fails = { if = \"root\", then = \"io_submit\", else = \"io_submit\" } }\n"),
        "fault.fails needs a syscall fault whose target names two alternatives"},
    {"FaultFailsNotTheAlternatives", rw_row("", "fault = { layer = \"syscall\", target = \"io_getevents|io_pgetevents\", effect = \"EINTR\", "
        "trigger = \"always\", fails = { if = \"root\", then = \"io_getevents\", else = \"io_getevents\" } }\n"),
        "then and else must be the two alternatives of 'io_getevents|io_pgetevents', one each"},
    {"FaultFailsWithoutElse", rw_row("", "fault = { layer = \"syscall\", target = \"io_getevents|io_pgetevents\", effect = \"EINTR\", "
        "trigger = \"always\", fails = { if = \"root\", then = \"io_getevents\" } }\n"),
        "fault.fails needs 'else'"},
    {"FaultFailsUnknownFact", rw_row("", "fault = { layer = \"syscall\", target = \"io_getevents|io_pgetevents\", effect = \"EINTR\", "
        "trigger = \"always\", fails = { if = \"no.such.fact\", then = \"io_getevents\", else = \"io_pgetevents\" } }\n"),
        "unknown fact 'no.such.fact'"},
    {"FaultRandomNaN", rw_row("", "fault = { layer = \"syscall\", target = \"io_submit\", effect = \"EAGAIN\", trigger = \"random:nan\" }\n"),
        "fault trigger 'random:nan'"},
    // predicates and expectations
    {"OrderingAgainstAWord", rw_row("", "when = [{ if = \"aio_max_nr > lots\", expect = \"1@submit\" }]\n"),
        "'aio_max_nr > lots' orders 'aio_max_nr' against 'lots', which is not an integer"},
    {"NegativeValueWhereOnlyErrnosAreNegative", "scenario = \"rw_one\"\ninterfaces = [\"libaio\"]\nexpect = \"-1@submit\"\n",
        "'-1' can never be observed on libaio"},
    {"ValuePast64Bits", "scenario = \"rw_one\"\ninterfaces = [\"libaio\"]\nexpect = \"1180591620717411303424@submit\"\n",
        "outside the 64-bit values"},
    {"ValueWithALeadingZero", "scenario = \"rw_one\"\ninterfaces = [\"libaio\"]\nexpect = \"1@submit, 04096@completion\"\n",
        "'04096' would never match: a value is written as 4096"},
    {"UnknownErrnoName", "scenario = \"rw_one\"\ninterfaces = [\"libaio\"]\nexpect = \"EBADFD2@submit\"\n",
        "unknown errno name 'EBADFD2'"},
    {"UnknownScenario", "scenario = \"rw_uno\"\ninterfaces = [\"libaio\"]\nexpect = \"1@submit\"\n", "unknown scenario 'rw_uno'"},
    // row timeouts
    {"RowTimeoutNaN", rw_row("", "timeout = nan\n"), "timeout must be a number of seconds"},
    {"RowTimeoutInf", rw_row("", "timeout = inf\n"), "timeout must be a number of seconds"},
    {"RowTimeoutNegative", rw_row("", "timeout = -1\n"), "timeout must be a number of seconds"},
    {"RowTimeoutZero", rw_row("", "timeout = 0\n"), "timeout must be a number of seconds"},
};

class BadTable : public BadInput, public ::testing::WithParamInterface<Refusal> {};

TEST_P(BadTable, IsRefusedWithOneLine) { table_refused(GetParam().row, GetParam().what); }

INSTANTIATE_TEST_SUITE_P(Rows, BadTable, ::testing::ValuesIn(kRefusals),
                         [](const ::testing::TestParamInfo<Refusal>& i) { return std::string(i.param.name); });

// --- files in the case directory that are no tables --------------------------

TEST_F(BadInput, SymlinkLoopNamesItsErrno) {
  std::string dir = work.path + "/loop";
  fs::create_directories(dir);
  fs::create_symlink(dir + "/x.toml", dir + "/x.toml");
  refused({"--cases", dir}, "x.toml: cannot open: ELOOP");
}
TEST_F(BadInput, FifoIsRefusedWithoutHanging) {
  std::string dir = work.path + "/fifo";
  fs::create_directories(dir);
  ASSERT_EQ(mkfifo((dir + "/x.toml").c_str(), 0600), 0);
  refused({"--cases", dir}, "x.toml: a FIFO, not a regular file");
}
TEST_F(BadInput, DirectoryIsRefused) {
  std::string dir = work.path + "/dir";
  fs::create_directories(dir + "/x.toml");
  refused({"--cases", dir}, "x.toml: a directory, not a regular file");
}
TEST_F(BadInput, LinkToDevZeroIsRefused) {
  std::string dir = work.path + "/zero";
  fs::create_directories(dir);
  fs::create_symlink("/dev/zero", dir + "/x.toml");
  refused({"--cases", dir}, "x.toml: a character device, not a regular file");
}
TEST_F(BadInput, CasesDirectoryMissing) { refused({"--cases", work.path + "/none"}, "not a directory of case tables"); }

// --- flags --------------------------------------------------------------------

TEST_F(BadInput, TimeoutInf) { refused({"--timeout", "inf"}, "--timeout inf: must be a number of seconds in (0, 3600]"); }
TEST_F(BadInput, TimeoutNaN) { refused({"--timeout", "nan"}, "--timeout nan: must be"); }
TEST_F(BadInput, TimeoutHuge) { refused({"--timeout", "1e300"}, "--timeout 1e+300: must be"); }
TEST_F(BadInput, TimeoutZero) { refused({"--timeout", "0"}, "--timeout 0: must be"); }
TEST_F(BadInput, TimeoutNegative) { refused({"--timeout", "-1"}, "--timeout -1: must be"); }
TEST_F(BadInput, FaultSeedNegative) { refused({"--fault-seed", "-1"}, "--fault-seed '-1': must be an integer from 0"); }
TEST_F(BadInput, FaultSeedPast64Bits) {
  refused({"--fault-seed", "18446744073709551616"}, "--fault-seed '18446744073709551616': must be");
}
TEST_F(BadInput, FaultSeedEmpty) { refused({"--fault-seed", ""}, "--fault-seed '': must be"); }
TEST_F(BadInput, JobsZero) { refused({"--jobs", "0"}, "--jobs '0': expected a whole number from 1 to 1024"); }
TEST_F(BadInput, JobsPast1024) { refused({"-j", "1025"}, "--jobs '1025': expected a whole number from 1 to 1024"); }
TEST_F(BadInput, JobsNotANumber) { refused({"--jobs", "8x"}, "--jobs '8x': expected a whole number"); }
TEST_F(BadInput, RepeatZero) { refused({"--repeat", "0"}, "--repeat '0': expected a whole number from 1"); }
TEST_F(BadInput, ShardOutOfRange) { refused({"--shard", "5/4"}, "--shard '5/4': I must be between 1 and N"); }
TEST_F(BadInput, ShardMalformed) { refused({"--shard", "2of4"}, "--shard '2of4': expected I/N"); }
TEST_F(BadInput, ColorBogus) { refused({"--color", "bogus"}, "--color: bogus not in {auto,always,never}"); }
TEST_F(BadInput, FormatUnknown) { refused({"--format", "xml"}, "--format: xml not in"); }
TEST_F(BadInput, UnknownFlag) { refused({"--bogus-flag"}, "bogus-flag"); }
TEST_F(BadInput, QuietAndVerbose) { refused({"-q", "-v"}, "-q and -v contradict each other"); }
TEST_F(BadInput, PolicyUnknown) { refused({"--policy", "kubernetes"}, "unknown --policy 'kubernetes'"); }
TEST_F(BadInput, InterfaceUnknown) { refused({"--interface", "aio"}, "unknown interface 'aio'"); }

// --- selection: filters, words, excludes, ids ---------------------------------

TEST_F(BadInput, MisspeltFilterBesideAGoodOne) {
  refused({"--filter", "wait.exact-min@libaio", "--filter", "wiat.*"}, "--filter 'wiat.*' matches no case id");
}
TEST_F(BadInput, WordMatchingNothing) { refused({"-k", "no-such-case"}, "-k 'no-such-case' matches no case id"); }
TEST_F(BadInput, ExcludeMatchingNothing) {
  refused({"-f", "rw.*", "--exclude", "wait.*"}, "--exclude 'wait.*' matches none of the selected case ids");
}
TEST_F(BadInput, IdsFileWithAnUnknownId) {
  std::string f = work.write("ids", "rw.read-4k@libaio\nrw.nope@libaio\n");
  refused({"--ids", f}, f + ":2: unknown case id 'rw.nope@libaio'");
}
TEST_F(BadInput, IdsFileThatIsAFifo) {
  std::string f = work.path + "/ids";
  ASSERT_EQ(mkfifo(f.c_str(), 0600), 0);
  refused({"--ids", f}, "a FIFO, not a regular file");
}

// --- paths --------------------------------------------------------------------

TEST_F(BadInput, OutputEmpty) { refused({"--output", ""}, "--output needs a file name"); }
TEST_F(BadInput, OutputExists) {
  std::string f = work.write("exists.json", "{}");
  refused({"-f", "rw.read-4k@*", "--output", f}, "exists; a result is never overwritten");
  EXPECT_EQ(slurp(f), "{}");
}
TEST_F(BadInput, OutputInAMissingDirectory) {
  refused({"-f", "rw.read-4k@*", "--output", "json:" + work.path + "/none/r.json"}, "r.json: directory");
}
TEST_F(BadInput, TargetMissing) { refused({"--target", "/nonexistent", "-f", "dio.*"}, "--target /nonexistent: ENOENT"); }
TEST_F(BadInput, TargetNotADirectory) {
  std::string f = work.write("file", "x");
  refused({"--target", f, "-f", "dio.*"}, "not a directory");
}
TEST_F(BadInput, DeviceWithoutDestructive) { refused({"--device", "/dev/null"}, "add --destructive"); }
TEST_F(BadInput, DeviceMissing) {
  refused({"--device", "/dev/nonexistent-disk", "--destructive"}, "--device /dev/nonexistent-disk: ENOENT");
}
TEST_F(BadInput, DeviceNotABlockDevice) { refused({"--device", "/dev/null", "--destructive"}, "not a block device"); }
TEST_F(BadInput, ScratchMissing) { refused({"--scratch", work.path + "/none"}, "--scratch"); }

// --- the signal path: a run stopped after its targets exist --------------------

TEST_F(BadInput, InterruptedRunReleasesItsTargets) {
  if (geteuid() != 0) GTEST_SKIP() << "targets need root";
  World before = World::now();
  // One sweep row on every target: loop devices and mounts exist once the
  // first result is out.
  Outcome o = run({"-i", "libaio", "-f", "dio.*@libaio", "--format", "jsonl"}, true);
  EXPECT_EQ(o.status, 130) << o.err;
  EXPECT_NE(o.err.find("stopped by SIGINT"), std::string::npos) << o.err;
  expect_nothing_left(before);
}

}  // namespace
