// A new fault layer needs only its own file: a test-only layer registered
// here ("test-fsize": the soft RLIMIT_FSIZE lowered while armed and put back
// at disarm, each SIGXFSZ counted by a handler) appears in every list the
// harness derives from the registry — the layer names, the vocabulary, the
// unknown-layer message — its rows are validated by its own rule plus the
// model's (a whole-case layer takes only "always"), its libfiu point is
// LAYER/TARGET, and a real row of the catalog's fault_rw scenario runs on it
// through the runner with the fault fired and read back. A second
// registration under a taken name aborts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>

#include "case_table.h"
#include "faults/fault.h"
#include "probe.h"
#include "runner.h"
#include "test_util.h"
#include "cli/vocabulary.h"
#include "vocabulary.h"

namespace aioh {
namespace {

constexpr std::string_view kLayer = "test-fsize";

faults::FaultState* g_st = nullptr;
rlim_t g_limit = 0;
rlimit g_before{};

void on_sigxfsz(int) {
  if (g_st) g_st->fired++;
}

faults::FaultLayer test_layer() {
  return {.name = kLayer,
          .order = 90,
          .whole_case = true,
          .validate = [](const faults::FaultSpec& f) -> std::string {
            if (f.target != "file-size") return "test-fsize target must be file-size";
            return faults::counted(f.effect, "bytes:") ? "" : "test-fsize effect must be bytes:N";
          },
          .install = [](const faults::FaultSpec& f, faults::FaultState* st, const std::string&) -> faults::Installed {
            g_st = st;
            g_limit = strtoull(f.effect.c_str() + 6, nullptr, 0);
            struct sigaction sa {};
            sa.sa_handler = on_sigxfsz;  // counted, not fatal: the write then fails with EFBIG
            sigaction(SIGXFSZ, &sa, nullptr);
            return {faults::Installed::ok, "", ""};
          },
          .arm = [] {
            getrlimit(RLIMIT_FSIZE, &g_before);
            rlimit rl{g_limit, g_before.rlim_max};
            if (setrlimit(RLIMIT_FSIZE, &rl) == 0) g_st->calls++;
          },
          .disarm = [](faults::FaultState*) { setrlimit(RLIMIT_FSIZE, &g_before); },
          .release = [](faults::FaultState* st) {
            snprintf(st->detail, sizeof st->detail, "soft RLIMIT_FSIZE=%llu while armed; SIGXFSZ handled %ld time(s)",
                     static_cast<unsigned long long>(g_limit), st->fired.load());
          }};
}

faults::FaultSpec spec(const char* target, const char* effect, const char* trigger) {
  return {.layer = std::string(kLayer), .target = target, .effect = effect, .trigger = trigger};
}

// Registered for one test, removed after it, so the other suites see the
// real layers only.
struct FaultLayerRegistry : ::testing::Test {
  FaultLayerRegistry() { faults::register_fault_layer(test_layer()); }
  ~FaultLayerRegistry() override { faults::unregister_fault_layer(kLayer); }
};

TEST_F(FaultLayerRegistry, TheNewLayerIsListedInItsOrder) {
  auto names = faults::layer_names();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.back(), kLayer) << "order 90 comes after vm's 80";
  EXPECT_EQ(names.front(), "syscall");
  auto vocab = cli::vocabulary_json()["fault_layers"];
  EXPECT_EQ(vocab.back(), std::string(kLayer));
  EXPECT_NE(faults::validate({"nope", "x", "EIO", "always"}).find(std::string(kLayer)), std::string::npos)
      << "the unknown-layer message lists the registry";
}

TEST_F(FaultLayerRegistry, ItsRowsAreValidatedByItsRuleAndTheModels) {
  EXPECT_EQ(faults::validate(spec("file-size", "bytes:4096", "always")), "");
  EXPECT_EQ(faults::validate(spec("stack", "bytes:4096", "always")), "test-fsize target must be file-size");
  EXPECT_EQ(faults::validate(spec("file-size", "4096", "always")), "test-fsize effect must be bytes:N");
  EXPECT_NE(faults::validate(spec("file-size", "bytes:4096", "once")).find("whole case"), std::string::npos);
  EXPECT_NE(faults::validate(spec("file-size", "bytes:4096", "nth:0")).find("fault trigger"), std::string::npos);
  EXPECT_EQ(spec("file-size", "bytes:1", "always").fiu_name(), "test-fsize/file-size");
}

TEST_F(FaultLayerRegistry, ARealRowFiresThroughTheRunner) {
  test::TempDir d;
  std::vector<CaseRow> rows = load_case_file(d.write("t.toml", test::case_table("reg", {{
      .id = "write-past-soft-limit", .scenario = "fault_rw", .interfaces = R"(["kernel-aio"])",
      .params = R"({ op = "write", file_size = 65536, offset = 65536 })",
      .fault = R"({ layer = "test-fsize", target = "file-size", effect = "bytes:65536", trigger = "always" })",
      .expect = "1@submit, EFBIG@completion",
      .source = "setrlimit(2) RLIMIT_FSIZE: a caught SIGXFSZ leaves the write failing with EFBIG"}})));
  ASSERT_EQ(rows.size(), 1u);
  Environment env = probe_environment(d.path);
  if (!env.interfaces["kernel-aio"].available) GTEST_SKIP() << "kernel AIO: " << env.interfaces["kernel-aio"].reason;
  Runner runner(env, RunOptions{10, d.path, false});
  Result r = runner.run_one(CaseRun{&rows[0], "kernel-aio", rows[0].case_id() + "@kernel-aio"});
  EXPECT_EQ(r.verdict_name(), "pass") << r.reason;
  EXPECT_EQ(r.observed, "1@submit, EFBIG@completion");
  ASSERT_TRUE(r.fault);
  EXPECT_EQ(r.fault->layer, kLayer);
  EXPECT_TRUE(r.fault->fired()) << r.fault->readback;
  EXPECT_EQ(r.fault->calls, 1) << "armed once";
  EXPECT_NE(r.fault->readback.find("SIGXFSZ handled 1 time"), std::string::npos) << r.fault->readback;
}

TEST_F(FaultLayerRegistry, ATakenNameAborts) {
  EXPECT_DEATH(faults::register_fault_layer(test_layer()), "registered twice");
}

TEST(FaultLayerRegistryGone, UnregisteredNameIsGone) {
  EXPECT_EQ(faults::find_fault_layer(kLayer), nullptr);
  EXPECT_EQ(faults::layer_names(),
            (std::vector<std::string>{"syscall", "rlimit", "sysctl", "enospc", "fs", "lsm", "block", "vm"}));
  EXPECT_NE(faults::validate(spec("file-size", "bytes:1", "always")).find("unknown fault layer"), std::string::npos);
}

}  // namespace
}  // namespace aioh
