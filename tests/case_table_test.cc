// The table loader accepts a well-formed table and rejects each kind of
// malformed row with `file:line: what is wrong`.
#include <gtest/gtest.h>

#include "case_table.h"
#include "test_util.h"

using namespace aioh;

namespace {

const char* kGood = R"toml(area = "errors"

[[case]]
id = "bad-fd"
scenario = "rw_one"
interfaces = "all"
params = { op = "read", fd = "closed", len = 4096 }
expect = { all = "1@submit, EBADF@completion", kernel-aio = "EBADF@submit" }
when = [{ if = "dio_mem_align > 1", expect = "EINVAL@completion" }]
source = "io_submit(2)"
)toml";

// Loads `text` as a one-file table and returns the error (or "").
std::string load_error(const std::string& text) {
  test::TempDir d;
  std::string p = d.write("t.toml", text);
  try {
    load_case_file(p);
  } catch (const LoadError& e) {
    std::string msg = e.what();
    return msg.substr(msg.find("t.toml"));
  }
  return "";
}

std::string row(const std::string& extra, const std::string& expect = R"("EBADF@submit")",
                const std::string& scenario = "rw_one") {
  return "[[case]]\nid = \"x\"\narea = \"a\"\nscenario = \"" + scenario +
         "\"\ninterfaces = \"all\"\nexpect = " + expect + "\nsource = \"s\"\n" + extra;
}

}  // namespace

TEST(CaseTable, LoadsAWellFormedRow) {
  test::TempDir d;
  auto rows = load_case_file(d.write("t.toml", kGood));
  ASSERT_EQ(rows.size(), 1u);
  const auto& r = rows[0];
  EXPECT_EQ(r.case_id(), "errors.bad-fd");
  EXPECT_EQ(r.interfaces.size(), 4u);
  EXPECT_EQ(std::get<std::string>(r.params.at("fd")), "closed");
  EXPECT_EQ(std::get<int64_t>(r.params.at("len")), 4096);
  Environment env;
  env.facts["dio_mem_align"] = int64_t{1};
  EXPECT_EQ(r.expectation_for("libaio", env)->text, "1@submit, EBADF@completion");
  EXPECT_EQ(r.expectation_for("kernel-aio", env)->text, "EBADF@submit");
  env.facts["dio_mem_align"] = int64_t{512};  // the `when` predicate now holds
  EXPECT_EQ(r.expectation_for("kernel-aio", env)->text, "EINVAL@completion");
}

TEST(CaseTable, RejectsUnknownKeyWithFileAndLine) {
  EXPECT_EQ(load_error(row("colour = \"red\"\n")), "t.toml:8: unknown key 'colour'");
}

TEST(CaseTable, RejectsUnknownScenario) {
  EXPECT_EQ(load_error(row("", R"("EBADF@submit")", "no_such_scenario")),
            "t.toml:4: unknown scenario 'no_such_scenario'");
}

TEST(CaseTable, RejectsUnknownErrnoName) {
  EXPECT_EQ(load_error(row("", R"("EBADFD2@submit")")), "t.toml:6: unknown errno name 'EBADFD2'");
}

TEST(CaseTable, RejectsMissingSource) {
  std::string t = "[[case]]\nid = \"x\"\narea = \"a\"\nscenario = \"rw_one\"\ninterfaces = \"all\"\nexpect = \"0@submit\"\n";
  EXPECT_EQ(load_error(t), "t.toml:1: row 'x' has no 'source' for its expectation");
}

TEST(CaseTable, RejectsUnknownInterfaceAndFact) {
  EXPECT_NE(load_error(row("", R"({ all = "0@submit", aio-uring = "0@submit" })")).find("unknown interface 'aio-uring'"),
            std::string::npos);
  EXPECT_NE(load_error(row("requires = [\"io_uring.shiny\"]\n")).find("unknown fact 'io_uring.shiny'"),
            std::string::npos);
}

TEST(CaseTable, AlternativesNeedAWhy) {
  EXPECT_NE(load_error(row("", R"("EINTR|ECANCELED@completion")")).find("needs a 'why'"), std::string::npos);
  EXPECT_EQ(load_error(row("why = \"depends on timing\"\n", R"("EINTR|ECANCELED@completion")")), "");
}

TEST(CaseTable, RejectsAnInterfaceWithoutExpectation) {
  EXPECT_NE(load_error(row("", R"({ libaio = "0@submit" })")).find("no expectation for interface 'posix-aio'"),
            std::string::npos);
}

TEST(CaseTable, RejectsTomlSyntaxErrorsWithTheirLine) {
  auto e = load_error("area = \"a\"\n[[case]\n");
  EXPECT_EQ(e.rfind("t.toml:2:", 0), 0u) << e;
}

TEST(CaseTable, RejectsDuplicateIdsAcrossFiles) {
  test::TempDir d;
  d.write("a.toml", row(""));
  d.write("b.toml", row(""));
  try {
    load_case_dir(d.path);
    FAIL() << "duplicate accepted";
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("duplicate id 'a.x'"), std::string::npos) << e.what();
  }
}

TEST(CaseTable, ExpandCrossesRowsWithChosenInterfacesInOrder) {
  test::TempDir d;
  auto rows = load_case_file(d.write("t.toml", kGood));
  auto runs = expand(rows, {"libaio", "io_uring"});
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].id, "errors.bad-fd@libaio");
  EXPECT_EQ(runs[1].id, "errors.bad-fd@io_uring");
}

TEST(CaseTable, ShippedTablesLoad) {
  auto rows = load_case_dir(test::cases_dir());
  EXPECT_GT(rows.size(), 20u);
  for (auto& r : rows) EXPECT_FALSE(r.source.empty()) << r.case_id();
}

TEST(Predicate, EvaluatesFactsAndComparisons) {
  Environment env;
  env.facts["root"] = true;
  env.facts["dio_mem_align"] = int64_t{512};
  env.facts["scratch_fs"] = std::string("ext4");
  auto p = [](std::string fact, std::string op, std::string v) { return Predicate{fact, op, v, ""}; };
  EXPECT_TRUE(p("root", "", "").eval(env));
  EXPECT_FALSE(p("root", "!", "").eval(env));
  EXPECT_TRUE(p("dio_mem_align", ">", "1").eval(env));
  EXPECT_FALSE(p("dio_mem_align", ">", "512").eval(env));
  EXPECT_TRUE(p("scratch_fs", "==", "ext4").eval(env));
  EXPECT_FALSE(p("io_uring.op.READ", "", "").eval(env));  // absent facts are false
}

TEST(CaseTable, XfailIfParsesAFactPredicateAndRejectsUnknownFacts) {
  test::TempDir d;
  auto rows = load_case_file(d.write("t.toml", row("xfail = { if = \"!rwf.noappend\", reason = \"r\", ref = \"x\" }\n")));
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_TRUE(rows[0].xfail && rows[0].xfail->cond);
  Environment env;
  env.facts["rwf.noappend"] = true;
  EXPECT_FALSE(rows[0].xfail->cond->eval(env));
  env.facts["rwf.noappend"] = false;
  EXPECT_TRUE(rows[0].xfail->cond->eval(env));
  EXPECT_NE(load_error(row("xfail = { if = \"io_uring.shiny\", reason = \"r\", ref = \"x\" }\n")).find("unknown fact 'io_uring.shiny'"),
            std::string::npos);
}
