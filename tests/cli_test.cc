// The command line: listing, filters, exit codes, one-line errors for bad
// input, and a real run's JSON document.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"

using namespace aioh;

namespace {
std::string H() { return test::harness_bin() + " --cases " + test::cases_dir(); }
int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }
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
  auto r = test::run_cmd(test::harness_bin() + " --cases " + d.path);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("bad.toml:2: row 'x' has no 'source'"), std::string::npos) << r.out;
}

TEST(Cli, UnknownIdInIdsFileIsRejected) {
  test::TempDir d;
  auto f = d.write("ids", "errors.bad-fd@libaio\nerrors.nope@libaio\n");
  auto r = test::run_cmd(H() + " --ids " + f);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("unknown case id 'errors.nope@libaio'"), std::string::npos) << r.out;
}

TEST(Cli, OutputIsNeverOverwritten) {
  test::TempDir d;
  auto f = d.write("exists.json", "{}");
  auto r = test::run_cmd(H() + " --filter 'rw.read-4k@*' --output " + f);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("never overwritten"), std::string::npos);
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
