// The command line: listing, selection (globs, words, excludes), the
// scenario declarations it lists, exit statuses, version, colour and
// verbosity, the progress line, the wrapper's pass-through, one-line errors
// for bad input, and a real run's JSON document. (Every class of bad input:
// bad_input_test.cc.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "cli/progress.h"
#include "test_util.h"
#include "version.h"
#include "vocabulary.h"

using namespace aioh;

namespace {
std::string H() { return test::harness_bin() + " --cases " + test::cases_dir(); }
int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }
// The command is refused as bad input: exit 2, its one line containing `part`.
void expect_refused(const std::string& cmd, const std::string& part) {
  auto r = test::run_cmd(cmd);
  EXPECT_EQ(r.status, 2) << cmd;
  EXPECT_NE(r.out.find(part), std::string::npos) << r.out;
}
}  // namespace

TEST(Cli, ListExpandsIdsPerInterface) {
  auto r = test::run_cmd(H() + " --list --interface libaio --filter 'errors.*'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("errors.bad-fd@libaio\n"), std::string::npos);
  EXPECT_EQ(r.out.find("@io_uring"), std::string::npos);
}

TEST(Cli, ListJsonHasTheFields) {
  auto r = test::run_cmd(H() + " --list --format json --interface io_uring --filter 'rw.*'");
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_FALSE(j.empty());
  for (auto key : {"id", "case", "area", "interface", "scenario", "source"}) EXPECT_TRUE(j[0].contains(key)) << key;
}

TEST(Cli, BadInputIsOneLineAndExitTwo) {
  for (auto args : {" --interface aio", " --bogus-flag", " --format xml", " --filter 'nothing.matches*'"}) {
    auto r = test::run_cmd(H() + args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.out;
    EXPECT_EQ(lines(r.out), 1) << args << ": " << r.out;
  }
}

TEST(Cli, MalformedTableStopsBeforeAnythingRuns) {
  test::TempDir d;
  d.write("bad.toml", "area = \"a\"\n[[case]]\nid = \"x\"\nscenario = \"rw_one\"\ninterfaces = \"all\"\nexpect = \"EBADF@submit\"\n");
  expect_refused(test::harness_bin() + " --cases " + d.path, "bad.toml:2: row 'x' has no 'source'");
}

TEST(Cli, UnknownIdInIdsFileIsRejected) {
  test::TempDir d;
  auto f = d.write("ids", "errors.bad-fd@libaio\nerrors.nope@libaio\n");
  expect_refused(H() + " --ids " + f, "unknown case id 'errors.nope@libaio'");
}

TEST(Cli, OutputIsNeverOverwritten) {
  test::TempDir d;
  auto f = d.write("exists.json", "{}");
  expect_refused(H() + " --filter 'rw.read-4k@*' --output " + f, "never overwritten");
}

TEST(Cli, RunWritesJsonWithEnvironmentAndResults) {
  test::TempDir d;
  auto r = test::run_cmd(H() + " --interface all --filter 'rw.read-4k@*' --format json --output " + d.path + "/r.json");
  ASSERT_EQ(r.status, 0) << r.out;
  std::ifstream f(d.path + "/r.json");
  auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["results"].size(), 4u);
  EXPECT_FALSE(j["environment"]["kernel_release"].get<std::string>().empty());
  for (auto& res : j["results"]) EXPECT_EQ(res["verdict"], "pass") << res.dump();
  EXPECT_NE(r.out.find("RESULT: OK"), std::string::npos);  // the table on stdout
}

TEST(Cli, IdsFileRunsExactlyThoseCases) {
  test::TempDir d;
  auto f = d.write("ids", "rw.read-4k@libaio\nrw.read-4k@io_uring\n");
  auto r = test::run_cmd(H() + " --ids " + f + " --format jsonl");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(lines(r.out), 4);  // environment, two results, summary
}

// --- selection -----------------------------------------------------------------

TEST(Cli, GlobCoversTheTargetsOfAnIdWithoutItsTarget) {
  auto all = test::run_cmd(H() + " --list");
  ASSERT_EQ(all.status, 0) << all.out;
  int uring = 0, uring_tmpfs = 0;
  std::istringstream in(all.out);
  for (std::string id; std::getline(in, id);) {
    auto at = id.find("@io_uring");
    if (at == std::string::npos) continue;
    uring++;
    uring_tmpfs += id.compare(at, std::string::npos, "@io_uring/tmpfs") == 0;
  }
  ASSERT_GT(uring_tmpfs, 0);
  EXPECT_EQ(lines(test::run_cmd(H() + " --list -f '*@io_uring'").out), uring);  // the README's example
  EXPECT_EQ(lines(test::run_cmd(H() + " --list -f '*@io_uring/tmpfs'").out), uring_tmpfs);
}

TEST(Cli, WordsSelectAndExcludesRemove) {
  auto r = test::run_cmd(H() + " --list -k read-4k -k exact-min -x '*@posix-aio' -x 'wait.*'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "rw.read-4k@kernel-aio\nrw.read-4k@libaio\nrw.read-4k@io_uring\n");
  std::istringstream in(r.out);
  for (std::string id; std::getline(in, id);)
    EXPECT_NE(id.find("read-4k"), std::string::npos) << id;
}

TEST(Cli, AMisspeltFilterIsAnErrorEvenBesideAGoodOne) {
  auto r = test::run_cmd(H() + " --list -f 'wait.exact-min@libaio' -f 'wiat.*'");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "harness: --filter 'wiat.*' matches no case id\n");
}

// --- scenario declarations ---------------------------------------------------------

TEST(Cli, ListScenariosShowsTheDeclarations) {
  auto r = test::run_cmd(test::harness_bin() + " --list-scenarios");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\nrw_one\n  op "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("read|write|readv|writev"), std::string::npos);
  EXPECT_NE(r.out.find("cancel_completed (no parameters)"), std::string::npos);
  auto j = nlohmann::json::parse(test::run_cmd("(" + test::harness_bin() + " --list-scenarios --format json 2>/dev/null)").out);
  bool found = false;
  for (auto& s : j)
    if (s["name"] == "rw_one")
      for (auto& p : s["params"])
        if (p["name"] == "file_size") {
          found = true;
          EXPECT_EQ(p["type"], "integer");
          EXPECT_EQ(p["default"], 65536);
          EXPECT_EQ(p["min"], 0);
          EXPECT_FALSE(p["meaning"].get<std::string>().empty());
        }
  EXPECT_TRUE(found) << j.dump();
}

TEST(Cli, EveryRowOfTheCatalogNamesOnlyDeclaredParameters) {
  // The loader checks each row against its scenario; the shipped tables load.
  auto r = test::run_cmd(H() + " --list");
  EXPECT_EQ(r.status, 0) << r.out.substr(0, 500);
}

// --- exit statuses, version, terminal ----------------------------------------------

TEST(Cli, EverySelectedCaseSkippedExitsFour) {
  test::TempDir d;
  d.write("t.toml", std::string("area = \"t\"\n[[case]]\nid = \"x\"\nscenario = \"rw_one\"\ninterfaces = [\"libaio\"]\n") +
                        "requires = [\"" + (geteuid() == 0 ? "!root" : "root") + "\"]\n" +
                        "expect = \"1@submit, 4096@completion\"\nsource = \"test\"\n");
  auto r = test::run_cmd(test::harness_bin() + " --cases " + d.path + " --no-kernel-log");
  EXPECT_EQ(r.status, 4) << r.out;
  EXPECT_NE(r.out.find("RESULT: SKIPPED"), std::string::npos) << r.out;
}

TEST(Cli, HelpListsTheExitStatuses) {
  auto r = test::run_cmd(test::harness_bin() + " --help");
  ASSERT_EQ(r.status, 0);
  for (auto& e : kExitStatuses) EXPECT_NE(r.out.find(std::string(e.meaning)), std::string::npos) << e.meaning;
  EXPECT_NE(r.out.find("'*@io_uring' selects"), std::string::npos);
}

TEST(Cli, VersionNamesTheVersionAndTheCommit) {
  auto r = test::run_cmd(test::harness_bin() + " --version");
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(r.out, version_line() + "\n");
  EXPECT_EQ(r.out.rfind("aioharness " + std::string(version()) + " (commit ", 0), 0u) << r.out;
}

namespace {
// Under script(1) the harness's stdout is a terminal.
std::string on_a_terminal(const std::string& env, const std::string& args) {
  return test::run_cmd(env + " script -qec \"" + test::harness_bin() + " --cases " + test::cases_dir() + " " + args +
                       "\" /dev/null").out;
}
}  // namespace

TEST(Cli, ColourOnlyOnATerminalWithoutNoColorOrDumb) {
  if (system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "no script(1)";
  const std::string args = "-f rw.read-4k@libaio --no-kernel-log";
  EXPECT_NE(on_a_terminal("", args).find('\033'), std::string::npos);
  EXPECT_EQ(on_a_terminal("NO_COLOR=1", args).find('\033'), std::string::npos);
  EXPECT_EQ(on_a_terminal("TERM=dumb", args).find('\033'), std::string::npos);
  EXPECT_NE(on_a_terminal("NO_COLOR=1", args + " --color always").find('\033'), std::string::npos);
  EXPECT_EQ(test::run_cmd(H() + " " + args).out.find('\033'), std::string::npos);  // a pipe
}

TEST(Cli, QuietShowsOnlyWhatDidNotPass) {
  auto r = test::run_cmd(H() + " -q -f 'rw.read-4k@*' --no-kernel-log");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("PASS"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RESULT: OK"), std::string::npos) << r.out;
}

// Beside a machine format on stdout, -v names each case on stderr as it
// starts, and stdout stays the format alone; -q leaves stderr silent.
TEST(Cli, VerboseNamesEachCaseOnStderrAndStdoutStaysTheFormat) {
  test::TempDir d;
  const std::string args = " -f 'rw.read-4k@*' --no-kernel-log --format jsonl";
  auto r = test::run_cmd("(" + H() + args + " -v 2>" + d.path + "/err)");
  ASSERT_EQ(r.status, 0) << r.out;
  std::istringstream in(r.out);
  int records = 0;
  for (std::string line; std::getline(in, line); records++) EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  EXPECT_GE(records, 4);
  std::ifstream f(d.path + "/err");
  std::string err((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (auto iface : {"kernel-aio", "libaio", "io_uring", "posix-aio"})
    EXPECT_NE(err.find(std::string("start: rw.read-4k@") + iface + "\n"), std::string::npos) << err;
  auto q = test::run_cmd("(" + H() + args + " -q 2>" + d.path + "/qerr >/dev/null)");
  ASSERT_EQ(q.status, 0);
  EXPECT_EQ(std::filesystem::file_size(d.path + "/qerr"), 0u);
}

// scripts/harness hands its arguments to the binary untouched and only adds
// a result file: `--format ktap` still reaches stdout (the JSON goes to the
// result directory), and a usage error leaves no result directory behind.
TEST(Cli, TheWrapperPassesArgumentsThrough) {
  test::TempDir results;
  std::string build = std::filesystem::path(test::harness_bin()).parent_path().string();
  std::string wrapper = "AIOH_BUILD=" + build + " AIOH_RESULTS=" + results.path + " " + std::string(AIOH_SOURCE_DIR) +
                        "/scripts/harness --cases " + test::cases_dir();
  auto r = test::run_cmd("(" + wrapper + " -f 'rw.read-4k@*' --no-kernel-log --format ktap 2>/dev/null)");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.rfind("KTAP version 1\n1..4\n", 0), 0u) << r.out;
  std::vector<std::filesystem::path> runs(std::filesystem::directory_iterator(results.path), {});
  ASSERT_EQ(runs.size(), 1u);
  std::ifstream f(runs[0] / "result.json");
  EXPECT_EQ(nlohmann::json::parse(f)["results"].size(), 4u);
  std::filesystem::remove_all(runs[0]);
  auto bad = test::run_cmd("(" + wrapper + " --timeout 0 2>&1)");
  EXPECT_EQ(bad.status, 2) << bad.out;
  EXPECT_TRUE(std::filesystem::is_empty(results.path));
}

// --- the progress line ---------------------------------------------------------------

namespace {
std::string contents(FILE* f) {
  fflush(f);
  rewind(f);
  std::string s;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) s.append(buf, n);
  return s;
}
Result result_of(const std::string& id, Verdict v) {
  Result r;
  r.id = id;
  r.verdict = v;
  return r;
}
// The progress line's stream: a temporary file, read back whole.
struct ProgressLine : ::testing::Test {
  FILE* f = tmpfile();
  void SetUp() override { ASSERT_NE(f, nullptr); }
  ~ProgressLine() override {
    if (f) fclose(f);
  }
};
}  // namespace

TEST_F(ProgressLine, ShowsTheCountTheElapsedTimeAndEveryRunningCase) {
  {
    cli::Progress p(f, 12, {.live = false, .announce_starts = false, .period = std::chrono::milliseconds(3600000)});
    p.started("a.one@libaio");
    p.started("a.two@io_uring");  // a parallel scheduler: two at once
    EXPECT_EQ(p.line(), "[ 0/12] 0:00 elapsed, running: a.one@libaio (0.0 s), a.two@io_uring (0.0 s)");
    p.finished(result_of("a.one@libaio", Verdict::fail));
    EXPECT_EQ(p.line(), "[ 1/12] 0:00 elapsed, 1 not passed, running: a.two@io_uring (0.0 s)");
    p.finished(result_of("a.two@io_uring", Verdict::pass));
    EXPECT_EQ(p.line(), "[ 2/12] 0:00 elapsed, 1 not passed");
  }
  EXPECT_EQ(contents(f), "");  // the period never came: nothing printed
}

TEST_F(ProgressLine, PrintsALineEachPeriodWhenNotATerminal) {
  {
    cli::Progress p(f, 3, {.live = false, .announce_starts = true, .period = std::chrono::milliseconds(50)});
    p.started("a.one@libaio");
    std::this_thread::sleep_for(std::chrono::milliseconds(180));
  }
  std::string out = contents(f);
  EXPECT_EQ(out.rfind("start: a.one@libaio\nprogress: [0/3] 0:00 elapsed, running: a.one@libaio (", 0), 0u) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;
}

TEST_F(ProgressLine, ALiveLineIsRewrittenInPlaceAndClearedAtTheEnd) {
  {
    cli::Progress p(f, 3, {.live = true, .announce_starts = false, .period = std::chrono::milliseconds(50)});
    p.started("a.one@libaio");
  }
  std::string out = contents(f);
  EXPECT_EQ(out.rfind("\r[0/3] 0:00 elapsed, running: a.one@libaio (0.0 s)", 0), 0u) << out;
  EXPECT_EQ(out.find('\n'), std::string::npos) << out;  // never a new line
  EXPECT_EQ(out.find('\033'), std::string::npos) << out;  // no escape sequences, only \r and spaces
  EXPECT_EQ(out.back(), '\r');
}

TEST(Cli, AnOutputNamingItsFormatLeavesStdoutToFormat) {
  test::TempDir d;
  auto r = test::run_cmd("(" + H() + " -f 'rw.read-4k@*' --no-kernel-log --format ktap --output json:" + d.path +
                         "/r.json 2>/dev/null)");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.rfind("KTAP version 1\n1..4\n", 0), 0u) << r.out;
  EXPECT_EQ(r.out.find("results written"), std::string::npos) << r.out;  // that line goes to stderr
  std::ifstream f(d.path + "/r.json");
  EXPECT_EQ(nlohmann::json::parse(f)["results"].size(), 4u);
}

// cmake --install into a prefix: the binary finds the installed tables with
// no flag (a row only the installed copy has is listed), and the man page
// and the completion are where man(1) and bash-completion look.
TEST(Install, AnInstalledHarnessFindsItsTables) {
  if (system("command -v cmake >/dev/null 2>&1") != 0) GTEST_SKIP() << "no cmake";
  test::TempDir prefix;
  std::string build = std::filesystem::path(test::harness_bin()).parent_path().string();
  auto inst = test::run_cmd("cmake --install " + build + " --prefix " + prefix.path);
  ASSERT_EQ(inst.status, 0) << inst.out;
  std::string cases = prefix.path + "/share/aioharness/cases";
  ASSERT_TRUE(std::filesystem::exists(cases + "/errors.toml"));
  EXPECT_TRUE(std::filesystem::exists(prefix.path + "/share/bash-completion/completions/harness"));
  if (system("command -v help2man >/dev/null 2>&1") == 0) {
    EXPECT_TRUE(std::filesystem::exists(prefix.path + "/share/man/man1/harness.1.gz"));
  }
  std::ofstream(cases + "/zz_installed.toml")
      << "area = \"installed\"\n[[case]]\nid = \"only-here\"\nscenario = \"rw_one\"\ninterfaces = [\"libaio\"]\n"
         "expect = \"1@submit, 4096@completion\"\nsource = \"test\"\n";
  auto r = test::run_cmd("cd / && env -u AIOH_CASES " + prefix.path + "/bin/harness --list -f 'installed.*'");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "installed.only-here@libaio\n");
}
