// The fault layer's own tests: a malformed `fault` is refused at load, the
// seeded trigger is reproducible, a sysctl a killed case left changed is
// undone from the journal, and the fault suite on this machine runs with
// every fault fired (>= 40 cases, each interface in >= 8), the same
// verdicts twice for one --fault-seed, and the sysctls as they were.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "case_table.h"
#include "faults/fault.h"
#include "system/journal.h"
#include "test_util.h"

namespace aioh {
namespace {

std::string read_line(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

TEST(Faults, ValidateRefusesBadSpecs) {
  EXPECT_EQ(faults::validate({"syscall", "io_submit", "EAGAIN", "always"}), "");
  EXPECT_EQ(faults::validate({"syscall", "pread64", "EIO", "nth:3"}), "");
  EXPECT_EQ(faults::validate({"syscall", "pwrite64", "EIO", "random:0.25"}), "");
  EXPECT_NE(faults::validate({"syscall", "io_submit", "NOTANERRNO", "always"}), "");
  EXPECT_NE(faults::validate({"syscall", "not_a_syscall", "EIO", "always"}), "");
  EXPECT_NE(faults::validate({"syscall", "io_submit", "EIO", "nth:0"}), "");
  EXPECT_NE(faults::validate({"syscall", "io_submit", "EIO", "random:2"}), "");
  // Alternatives: each a syscall the layer knows, none twice, never with SIGSYS (one trap).
  EXPECT_EQ(faults::validate({"syscall", "io_getevents|io_pgetevents", "EINTR", "always"}), "");
  EXPECT_NE(faults::validate({"syscall", "io_getevents|not_a_syscall", "EINTR", "always"}), "");
  EXPECT_NE(faults::validate({"syscall", "io_getevents|io_getevents", "EINTR", "always"}), "");
  EXPECT_NE(faults::validate({"syscall", "io_getevents|", "EINTR", "always"}), "");
  EXPECT_NE(faults::validate({"syscall", "io_getevents|io_pgetevents", "SIGSYS", "always"}), "");
  EXPECT_NE(faults::validate({"sysctl", "aio-max-nr", "exhaust", "once"}), "");
  EXPECT_NE(faults::validate({"nope", "x", "EIO", "always"}), "");
}

TEST(Faults, FiuNames) {
  EXPECT_EQ((faults::FaultSpec{"syscall", "io_submit", "EIO", "always"}.fiu_name()), "syscall/io_submit");
  EXPECT_EQ((faults::FaultSpec{"rlimit", "fsize", "limit:1", "always"}.fiu_name()), "limit/fsize");
  EXPECT_EQ((faults::FaultSpec{"enospc", "ext4-loop", "full", "always"}.fiu_name()), "fs/enospc");
}

TEST(Faults, CaseSeedIsStableAndPerCase) {
  EXPECT_EQ(faults::case_seed(7, "faults.a@libaio"), faults::case_seed(7, "faults.a@libaio"));
  EXPECT_NE(faults::case_seed(7, "faults.a@libaio"), faults::case_seed(8, "faults.a@libaio"));
  EXPECT_NE(faults::case_seed(7, "faults.a@libaio"), faults::case_seed(7, "faults.a@io_uring"));
}

TEST(Faults, TableRefusesUnknownFaultKey) {
  test::TempDir d;
  auto p = d.write("f.toml", test::case_table("faults", {{.id = "x", .scenario = "fault_rw",
      .fault = R"({ layer = "syscall", target = "io_submit", effect = "EIO", when = "always" })",
      .expect = "EIO@submit"}}));
  try {
    load_case_file(p);
    FAIL() << "loaded a fault with an unknown key";
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'when' in fault"), std::string::npos) << e.what();
  }
}

// A case's child that changed fs.aio-max-nr and died without restoring it:
// the runner's undo_pid() puts the old value back from the journal.
TEST(Faults, KilledCaseSysctlIsUndoneFromTheJournal) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to write fs.aio-max-nr";
  std::string before = read_line("/proc/sys/fs/aio-max-nr");
  faults::FaultState* st = faults::state_alloc();
  ASSERT_NE(st, nullptr);
  test::TempDir d;
  Journal::run_journal();  // opened before fork, as the harness does: the child appends to it
  pid_t pid = fork();
  if (pid == 0) {
    auto in = faults::install({"sysctl", "aio-max-nr", "exhaust", "always"}, 1, st, d.path, true);
    _exit(in.kind == faults::Installed::ok ? 0 : 1);  // "killed": no release()
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(read_line("/proc/sys/fs/aio-max-nr"), "0");
  auto undone = Journal::run_journal().undo_pid(pid);
  ASSERT_EQ(undone.size(), 1u);
  EXPECT_EQ(read_line("/proc/sys/fs/aio-max-nr"), before);
  faults::state_free(st);
}

struct SuiteRun {
  std::vector<nlohmann::json> results;
  int status = -1;
};

// Only the fault tables: the suite is independent of the other areas' rows.
void copy_fault_tables(const std::string& dir) {
  for (auto& e : std::filesystem::directory_iterator(test::cases_dir()))
    if (e.path().filename().string().rfind("faults_", 0) == 0)
      std::filesystem::copy_file(e.path(), dir + "/" + e.path().filename().string());
}

SuiteRun run_suite(const std::string& extra) {
  SuiteRun s;
  test::TempDir d;
  copy_fault_tables(d.path);
  std::string out = d.path + "/r.jsonl";
  auto r = test::run_cmd(test::harness_bin() + " --cases " + d.path +
                         " --filter 'faults.*' --no-kernel-log --color never --format jsonl --output " + out + " " + extra);
  s.status = r.status;
  s.results = test::results_of(out);
  return s;
}

TEST(Faults, SuiteFiresEveryFaultAndRestoresSysctls) {
  if (access(test::harness_bin().c_str(), X_OK) != 0) GTEST_SKIP() << "no harness binary at " << test::harness_bin();
  if (geteuid() != 0) GTEST_SKIP() << "the fault suite needs root (seccomp notify, sysctls, loop devices)";
  std::string aio = read_line("/proc/sys/fs/aio-max-nr"), uring = read_line("/proc/sys/kernel/io_uring_disabled");
  auto s = run_suite("--fault-seed 42");
  EXPECT_EQ(s.status, 0);
  std::map<std::string, int> per_iface;
  int executed = 0;
  for (auto& r : s.results) {
    if (r["fault"].is_null() || r["verdict"] == "skip") continue;
    executed++;
    per_iface[r["interface"].get<std::string>()]++;
    EXPECT_TRUE(r["fault"]["fired"].get<bool>()) << r["id"];
    if (!r["fault"]["fired"].get<bool>()) {
      EXPECT_NE(r["verdict"], "pass") << r["id"];
    }
    EXPECT_EQ(r["verdict"], "pass") << r["id"] << ": " << r["reason"];
  }
  EXPECT_GE(executed, 40);
  for (const char* i : {"posix-aio", "kernel-aio", "libaio", "io_uring"}) EXPECT_GE(per_iface[i], 8) << i;
  EXPECT_EQ(read_line("/proc/sys/fs/aio-max-nr"), aio);
  EXPECT_EQ(read_line("/proc/sys/kernel/io_uring_disabled"), uring);

  // The same seed gives the same verdicts and the same faults (jsonl is in
  // completion order: results are matched by id).
  auto again = run_suite("--fault-seed 42");
  ASSERT_EQ(again.results.size(), s.results.size());
  std::map<std::string, nlohmann::json> by_id;
  for (auto& r : again.results) by_id[r["id"].get<std::string>()] = r;
  for (auto& first : s.results) {
    const auto& id = first["id"];
    ASSERT_TRUE(by_id.count(id.get<std::string>())) << id;
    const auto& second = by_id[id.get<std::string>()];
    EXPECT_EQ(second["verdict"], first["verdict"]) << id;
    if (first["fault"].is_object()) {
      EXPECT_EQ(second["fault"]["fired"], first["fault"]["fired"]) << id;
    }
    // A row whose expectation names alternatives (a race its `why` explains) may take either.
    if (first.value("expected", "").find('|') == std::string::npos) {
      EXPECT_EQ(second["observed"], first["observed"]) << id;
    }
  }
}

// io_uring_register is never called by fault_rw: the fault cannot fire, and
// the case must be broken although its expectation would match.
TEST(Faults, FaultThatDidNotFireIsBroken) {
  if (access(test::harness_bin().c_str(), X_OK) != 0) GTEST_SKIP() << "no harness binary at " << test::harness_bin();
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  test::TempDir d;
  d.write("f.toml", test::case_table("faults", {{.id = "never-fires", .scenario = "fault_rw",
      .interfaces = R"(["io_uring"])",
      .fault = R"({ layer = "syscall", target = "io_uring_register", effect = "EIO", trigger = "always" })",
      .expect = "1@submit, 4096@completion"}}));
  std::string out = d.path + "/r.jsonl";
  auto r = test::run_cmd(test::harness_bin() + " --cases " + d.path + " --no-kernel-log --format jsonl --output " + out);
  EXPECT_EQ(r.status, 1) << r.out;
  int seen = 0;
  for (const auto& j : test::results_of(out)) {
    seen++;
    EXPECT_EQ(j["verdict"], "broken");
    EXPECT_FALSE(j["fault"]["fired"].get<bool>());
    EXPECT_NE(j["reason"].get<std::string>().find("did not fire"), std::string::npos) << j["reason"];
  }
  EXPECT_EQ(seen, 1);
}

// A target with alternatives fails whichever of them the interface makes, and
// the readback names the one it failed: kernel AIO's wait through io_getevents,
// or through io_pgetevents (fault_rw wait = "pgetevents").
TEST(Faults, AlternativeTargetsFailTheSyscallMadeAndNameIt) {
  if (access(test::harness_bin().c_str(), X_OK) != 0) GTEST_SKIP() << "no harness binary at " << test::harness_bin();
  test::TempDir d;
  const std::string fault = R"({ layer = "syscall", target = "io_getevents|io_pgetevents", effect = "EINTR", trigger = "always" })";
  d.write("f.toml", test::case_table("faults", {
      {.id = "via-getevents", .scenario = "fault_rw", .interfaces = R"(["kernel-aio"])", .fault = fault,
       .expect = "1@submit, EINTR@wait"},
      {.id = "via-pgetevents", .scenario = "fault_rw", .interfaces = R"(["kernel-aio"])",
       .params = R"({ wait = "pgetevents" })", .fault = fault, .expect = "1@submit, EINTR@wait"}}));
  std::string out = d.path + "/r.jsonl";
  auto r = test::run_cmd(test::harness_bin() + " --cases " + d.path + " --no-kernel-log --format jsonl --output " + out);
  EXPECT_EQ(r.status, 0) << r.out;
  std::map<std::string, std::string> readback;
  for (const auto& j : test::results_of(out)) {
    EXPECT_EQ(j["verdict"], "pass") << j;
    readback[j["id"]] = j["fault"].value("readback", "");
  }
  EXPECT_NE(readback["faults.via-getevents@kernel-aio"].find("failed io_getevents"), std::string::npos);
  EXPECT_EQ(readback["faults.via-getevents@kernel-aio"].find("failed io_pgetevents"), std::string::npos);
  EXPECT_NE(readback["faults.via-pgetevents@kernel-aio"].find("failed io_pgetevents"), std::string::npos);
  EXPECT_EQ(readback["faults.via-pgetevents@kernel-aio"].find("failed io_getevents"), std::string::npos);
}

// fault.fails: the readback must name the alternative the fact predicts.
// Kernel AIO's default wait makes io_getevents; keyed on kernel_aio (true
// wherever the case runs), a prediction of io_getevents passes and one of
// io_pgetevents fails the case, naming the syscall that was failed.
TEST(Faults, FailsPredictionChecksTheSyscallFailed) {
  if (access(test::harness_bin().c_str(), X_OK) != 0) GTEST_SKIP() << "no harness binary at " << test::harness_bin();
  test::TempDir d;
  auto fault = [](const std::string& then_name, const std::string& else_name) {
    return R"({ layer = "syscall", target = "io_getevents|io_pgetevents", effect = "EINTR", trigger = "always", )"
           R"(fails = { if = "kernel_aio", then = ")" + then_name + R"(", else = ")" + else_name + R"(" } })";
  };
  d.write("f.toml", test::case_table("faults", {
      {.id = "predicted", .scenario = "fault_rw", .interfaces = R"(["kernel-aio"])",
       .fault = fault("io_getevents", "io_pgetevents"), .expect = "1@submit, EINTR@wait"},
      {.id = "mispredicted", .scenario = "fault_rw", .interfaces = R"(["kernel-aio"])",
       .fault = fault("io_pgetevents", "io_getevents"), .expect = "1@submit, EINTR@wait"}}));
  std::string out = d.path + "/r.jsonl";
  auto r = test::run_cmd(test::harness_bin() + " --cases " + d.path + " --no-kernel-log --format jsonl --output " + out);
  EXPECT_EQ(r.status, 1) << r.out;
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& j : test::results_of(out)) by_id[j["id"]] = j;
  ASSERT_TRUE(by_id.count("faults.predicted@kernel-aio") && by_id.count("faults.mispredicted@kernel-aio")) << r.out;
  EXPECT_EQ(by_id["faults.predicted@kernel-aio"]["verdict"], "pass") << by_id["faults.predicted@kernel-aio"];
  const auto& bad = by_id["faults.mispredicted@kernel-aio"];
  EXPECT_EQ(bad["verdict"], "fail") << bad;
  EXPECT_NE(bad["reason"].get<std::string>().find("the fault failed io_getevents"), std::string::npos) << bad["reason"];
}

TEST(Faults, PolicyProfilesAreClassifiedByTheProbe) {
  if (access(test::harness_bin().c_str(), X_OK) != 0) GTEST_SKIP() << "no harness binary at " << test::harness_bin();
  if (geteuid() != 0) GTEST_SKIP() << "sysctl profiles need root";
  const std::map<std::string, std::pair<std::string, std::string>> want = {
      {"docker", {"io_uring", "EPERM under a seccomp filter (Docker-style"}},
      {"podman", {"io_uring", "ENOSYS under a seccomp filter"}},
      {"android", {"io_uring", "SIGSYS"}},
      {"io_uring-disabled-1", {"io_uring", "kernel.io_uring_disabled=1"}},
      {"io_uring-disabled-2", {"io_uring", "kernel.io_uring_disabled=2"}},
      {"aio-max-nr-exhausted", {"kernel-aio", "fs.aio-max-nr exhausted"}},
  };
  std::string uring = read_line("/proc/sys/kernel/io_uring_disabled"), aio = read_line("/proc/sys/fs/aio-max-nr");
  test::TempDir tables;
  copy_fault_tables(tables.path);
  for (auto& [policy, w] : want) {
    auto r = test::run_cmd("(" + test::harness_bin() + " --cases " + tables.path + " --policy " + policy + " --probe 2>/dev/null)");
    ASSERT_EQ(r.status, 0) << policy << ": " << r.out;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << policy << ": " << r.out.substr(0, 300);
    auto& iface = j["interfaces"][w.first];
    EXPECT_FALSE(iface["available"].get<bool>()) << policy;
    EXPECT_NE(iface["reason"].get<std::string>().find(w.second), std::string::npos) << policy << ": " << iface["reason"];
  }
  EXPECT_EQ(read_line("/proc/sys/kernel/io_uring_disabled"), uring);
  EXPECT_EQ(read_line("/proc/sys/fs/aio-max-nr"), aio);
}

}  // namespace
}  // namespace aioh
