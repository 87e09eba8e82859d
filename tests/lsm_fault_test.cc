// The BPF LSM fault layer and the policy rows added with it: a malformed lsm
// or rlimit fault is refused at load; the lsm, RLIMIT_NOFILE/MEMLOCK and
// SIGSYS rows pass on this machine with every fault fired (the kernel's own
// count for lsm); no program of ours stays loaded after a run, nor after
// the process holding it was SIGKILLed; and `fiu-ctrl` drives a running
// case: an "external" fault fires only because fiu-ctrl enabled it.
#include <gtest/gtest.h>
#include <glob.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "faults/fault.h"
#include "test_util.h"

namespace aioh {
namespace {

// Waits (bounded) for the kernel to free programs of a closed link: the
// free runs after an RCU grace period.
int settled_program_count(int want, int seconds = 5) {
  int n = faults::count_lsm_programs();
  for (int i = 0; i < seconds * 20 && n != want; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    n = faults::count_lsm_programs();
  }
  return n;
}

// The parent of a process, 0 when it is gone.
int parent_of(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  size_t rp = line.rfind(')');
  char state = 0;
  int ppid = 0;
  return rp != std::string::npos && sscanf(line.c_str() + rp + 2, "%c %d", &state, &ppid) == 2 ? ppid : 0;
}

// Designated: FaultSpec grows members other layers use.
faults::FaultSpec spec(const char* layer, const char* target, const char* effect, const char* trigger) {
  return {.layer = layer, .target = target, .effect = effect, .trigger = trigger};
}

std::string probe_reason() {
  test::TempDir d;
  return faults::probe_bpf_lsm(d.path);
}

TEST(LsmFault, ValidateRefusesBadSpecs) {
  struct Row {
    const char *layer, *target, *effect, *trigger;
    bool valid;
  };
  const Row rows[] = {
      {"lsm", "read", "EACCES", "always", true},         {"lsm", "write", "EPERM", "nth:2", true},
      {"lsm", "open", "EACCES", "always", false},        {"lsm", "read", "NOTANERRNO", "always", false},
      {"lsm", "read", "EACCES", "random:0.5", false},    {"rlimit", "nofile", "exhaust", "always", true},
      {"rlimit", "nofile", "limit:3", "always", false},  {"rlimit", "memlock", "limit:4096", "always", true},
      {"rlimit", "stack", "limit:4096", "always", false}, {"syscall", "io_uring_setup", "SIGSYS", "always", true},
      {"syscall", "io_uring_setup", "SIGSYS", "once", false}, {"syscall", "io_submit", "EAGAIN", "external", true},
  };
  for (const Row& r : rows)
    EXPECT_EQ(faults::validate(spec(r.layer, r.target, r.effect, r.trigger)).empty(), r.valid)
        << r.layer << " " << r.target << " " << r.effect << " " << r.trigger;
}

// The probe's round trip: either a program loaded here denied a read (empty
// reason), or the reason names the class of failure; nothing stays loaded.
TEST(LsmFault, ProbeClassifiesAndLeavesNothing) {
  if (geteuid() != 0) GTEST_SKIP() << "loading BPF LSM programs needs root";
  int before = faults::count_lsm_programs();
  if (before < 0) GTEST_SKIP() << "built without the BPF LSM program";
  std::string why = probe_reason();
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    EXPECT_NE(why.find("no kernel BTF"), std::string::npos) << why;
  } else if (!why.empty()) {
    bool known = false;
    for (const char* cls : {"BPF_PROG_LOAD of lsm/file_permission refused", "attaching lsm/file_permission failed",
                            "never ran it: bpf is not in the active LSM list"})
      known |= why.find(cls) != std::string::npos;
    EXPECT_TRUE(known) << "unclassified: " << why;
  }
  EXPECT_EQ(settled_program_count(before), before);
}

// The rows of cases/faults_lsm.toml and the new policy rows: every one
// passes (or skips with a probe reason) and every fault fired.
TEST(LsmFault, RowsPassWithFaultsFiredAndNoProgramLeft) {
  if (access(test::harness_bin().c_str(), X_OK) != 0) GTEST_SKIP() << "no harness binary";
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  int before = faults::count_lsm_programs();
  test::TempDir d;
  // Only the two tables these rows live in: the run is about them.
  std::string tables = d.path + "/cases";
  std::filesystem::create_directory(tables);
  for (const char* t : {"faults_lsm.toml", "faults_policy.toml"})
    std::filesystem::copy_file(test::cases_dir() + "/" + t, tables + "/" + t);
  std::string out = d.path + "/r.jsonl";
  auto r = test::run_cmd(test::harness_bin() + " --cases " + tables +
                         " --no-kernel-log --format jsonl --output " + out +
                         " --filter 'faults.lsm-*' --filter 'faults.nofile-*' --filter 'faults.memlock-*' --filter 'faults.android-*'");
  auto res = test::results_of(out);
  ASSERT_GE(res.size(), 24u) << r.out;
  bool lsm_here = probe_reason().empty();
  for (auto& j : res) {
    std::string id = j["id"];
    if (id.find(".lsm-") != std::string::npos && !lsm_here) {
      EXPECT_EQ(j["verdict"], "skip") << id;
      continue;
    }
    EXPECT_EQ(j["verdict"], "pass") << id << ": " << j.value("reason", "");
    EXPECT_TRUE(j["fault"]["fired"].get<bool>()) << id;
  }
  if (before >= 0) {
    EXPECT_EQ(settled_program_count(before), before) << "a BPF LSM program outlived the run";
  }
}

// A process holding the attached program is SIGKILLed: the kernel detaches
// and frees it with the last fd, and `harness --cleanup` finds nothing to do.
TEST(LsmFault, KilledHolderLeavesNoProgram) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  int before = faults::count_lsm_programs();
  if (before < 0) GTEST_SKIP() << "built without the BPF LSM program";
  if (!probe_reason().empty()) GTEST_SKIP() << "bpf LSM not usable here: " << probe_reason();
  test::TempDir d;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t pid = fork();
  if (pid == 0) {
    faults::FaultState* st = faults::state_alloc();
    auto in = faults::install(spec("lsm", "read", "EACCES", "always"), 1, st, d.path, false);
    char ok = in.kind == faults::Installed::ok ? 'y' : 'n';
    (void)!write(ready[1], &ok, 1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char ok = 0;
  ASSERT_EQ(read(ready[0], &ok, 1), 1);
  close(ready[0]);
  EXPECT_EQ(ok, 'y');
  EXPECT_EQ(faults::count_lsm_programs(), before + 1) << "the case's program is loaded while it runs";
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_EQ(settled_program_count(before), before) << "the killed holder left its program loaded";
  auto c = test::run_cmd(test::harness_bin() + " --cleanup");
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(faults::count_lsm_programs(), before);
}

// A running case is driven from outside: the row's trigger is "external",
// so only `fiu-ctrl -c "enable name=syscall/io_submit" PID` makes io_submit
// fail. Without the command the same row is broken (the fault never fired).
nlohmann::json run_external(bool drive) {
  test::TempDir d;
  d.write("f.toml", test::case_table("faults", {{.id = "external-io-submit", .scenario = "fault_rw",
      .interfaces = R"(["kernel-aio"])",
      .fault = R"({ layer = "syscall", target = "io_submit", effect = "EAGAIN", trigger = "external" })",
      .expect = "EAGAIN@submit", .timeout = 20,
      .source = "test: io_submit(2) EAGAIN, injected only when fiu-ctrl enables syscall/io_submit"}}));
  std::string out = d.path + "/r.jsonl", prefix = d.path + "/fiu";
  pid_t h = fork();
  if (h == 0) {
    setenv("AIOH_FIU_FIFO", prefix.c_str(), 1);
    execl(test::harness_bin().c_str(), "harness", "--cases", d.path.c_str(), "--no-kernel-log", "--format", "jsonl", "--output",
          out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string fiu_out;
  if (drive) {
    // The case's process announces itself by its fifos, PREFIX-PID.in and
    // .out (fiu-ctrl wants both); it is a child of the harness's fork server,
    // itself a child of the harness (spawner.h). The probe's
    // short-lived children may have left fifos too (libfiu's fork handler),
    // so only a child seen alive on 5 polls in a row (100 ms; the case waits
    // up to 5 s for the command) is sent it.
    bool sent = false;
    std::map<std::string, int> seen;
    for (int i = 0; i < 400 && !sent; i++) {
      glob_t g{};
      if (glob((prefix + "-*.out").c_str(), 0, nullptr, &g) == 0)
        for (size_t k = 0; k < g.gl_pathc && !sent; k++) {
          std::string p = g.gl_pathv[k], cand = p.substr(prefix.size() + 1, p.size() - prefix.size() - 5);
          std::ifstream stat("/proc/" + cand + "/stat");
          std::string line;
          std::getline(stat, line);
          size_t rp = line.rfind(')');
          int ppid = 0;
          char state = 0;
          if (rp == std::string::npos || sscanf(line.c_str() + rp + 2, "%c %d", &state, &ppid) != 2 || state == 'Z') continue;
          if (ppid != h && parent_of(ppid) != h) continue;
          if (++seen[cand] < 5) continue;
          fiu_out = test::run_cmd("fiu-ctrl -f " + prefix + " -c 'enable name=syscall/io_submit' " + cand).out;
          sent = fiu_out.empty();  // fiu-ctrl prints only complaints
        }
      globfree(&g);
      if (!sent) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    EXPECT_TRUE(sent) << "no running case took the fiu-ctrl command: " << fiu_out;
  }
  int st = 0;
  waitpid(h, &st, 0);
  auto res = test::results_of(out);
  EXPECT_EQ(res.size(), 1u) << fiu_out;
  return res.empty() ? nlohmann::json{} : res[0];
}

TEST(FiuCtrl, DrivesARunningCase) {
  if (access(test::harness_bin().c_str(), X_OK) != 0) GTEST_SKIP() << "no harness binary";
  if (geteuid() != 0) GTEST_SKIP() << "the syscall layer needs root (seccomp notify)";
  if (access("/usr/bin/fiu-ctrl", X_OK) != 0) GTEST_SKIP() << "fiu-ctrl (fiu-utils) not installed";
  auto driven = run_external(true);
  ASSERT_TRUE(driven.is_object());
  EXPECT_EQ(driven["verdict"], "pass") << driven.dump();  // run_external's fiu-ctrl output is in the log on failure
  EXPECT_TRUE(driven["fault"]["fired"].get<bool>());
  EXPECT_NE(driven["fault"]["readback"].get<std::string>().find("enabled from outside"), std::string::npos);
  auto alone = run_external(false);
  ASSERT_TRUE(alone.is_object());
  EXPECT_EQ(alone["verdict"], "broken") << alone.dump();
  EXPECT_FALSE(alone["fault"]["fired"].get<bool>());
}

}  // namespace
}  // namespace aioh
