// Writers: the JSON document is valid and streams (a cut-off run leaves every
// finished result), JSON lines are one object each, JUnit counts and classes
// match the verdicts, KTAP has its version, plan and SKIP directives.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "writers/writer.h"

using namespace aioh;

namespace {

Result make(const std::string& id, const std::string& iface, const std::string& verdict, const std::string& reason = "") {
  Result r;
  r.id = id + "@" + iface;
  r.case_id = id;
  r.area = id.substr(0, id.find('.'));
  r.interface = iface;
  r.scenario = "rw_one";
  r.verdict = *verdict_from_name(verdict);
  r.expected = "EBADF@submit";
  r.observed = verdict == "pass" ? "EBADF@submit" : "EINVAL@submit";
  r.reason = reason;
  r.source = "io_submit(2)";
  return r;
}

struct Captured {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  ~Captured() { free(buf); }
  std::string text() {
    fflush(f);
    return std::string(buf, len);
  }
};

std::string render(const std::string& format, const std::vector<Result>& rs, bool finish = true) {
  Captured c;
  auto w = make_writer(format, c.f, false);
  Environment env;
  env.info["kernel_release"] = "6.18.0-test";
  env.facts["root"] = true;
  env.interfaces["libaio"] = {true, ""};
  RunInfo run{"2026-11-26T00:00:00Z", "", "host", {"harness"}, rs.size()};
  w->begin(run, env);
  Summary s;
  for (auto& r : rs) {
    w->result(r);
    s.add(r);
  }
  if (finish) {
    run.finished = "2026-11-26T00:00:01Z";
    w->end(run, s);
  }
  std::string out = c.text();
  fclose(c.f);
  return out;
}

const std::vector<Result> kResults = {make("errors.bad-fd", "libaio", "pass"),
                                      make("errors.bad-fd", "io_uring", "fail", "step 1 differs"),
                                      make("wait.x", "libaio", "skip", "needs io_uring.op.TIMEOUT"),
                                      make("cancel.y", "posix-aio", "crash", "signal SEGV")};

}  // namespace

TEST(JsonWriter, WritesTheDocumentShape) {
  auto j = nlohmann::json::parse(render("json", kResults));
  EXPECT_EQ(j["schema"], "aioharness-result/1");
  EXPECT_EQ(j["environment"]["kernel_release"], "6.18.0-test");
  EXPECT_EQ(j["environment"]["facts"]["root"], true);
  ASSERT_EQ(j["results"].size(), 4u);
  for (auto& r : j["results"])
    for (auto key : {"id", "interface", "area", "verdict", "expected", "observed", "reason", "duration_ms", "source"})
      EXPECT_TRUE(r.contains(key)) << key;
  EXPECT_EQ(j["summary"]["pass"], 1);
  EXPECT_EQ(j["summary"]["crash"], 1);
  EXPECT_EQ(j["summary"]["by_interface"]["libaio"]["skip"], 1);
}

TEST(JsonWriter, AKilledRunKeepsFinishedResults) {
  std::string partial = render("json", kResults, /*finish=*/false);
  // Close the open array and object as a reader of a cut-off file would.
  auto j = nlohmann::json::parse(partial + "]}");
  EXPECT_EQ(j["results"].size(), 4u);
}

TEST(JsonLinesWriter, OneObjectPerLine) {
  std::string out = render("jsonl", kResults);
  std::vector<std::string> types;
  size_t start = 0, nl;
  while ((nl = out.find('\n', start)) != std::string::npos) {
    types.push_back(nlohmann::json::parse(out.substr(start, nl - start))["type"]);
    start = nl + 1;
  }
  EXPECT_EQ(types, (std::vector<std::string>{"environment", "result", "result", "result", "result", "summary"}));
}

TEST(JunitWriter, CountsAndClassifiesVerdicts) {
  std::string x = render("junit", kResults);
  EXPECT_NE(x.find("<testsuites name=\"aioharness\" tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\""),
            std::string::npos) << x;
  EXPECT_NE(x.find("<failure type=\"fail\" message=\"step 1 differs\">"), std::string::npos);
  EXPECT_NE(x.find("<error type=\"crash\""), std::string::npos);
  EXPECT_NE(x.find("<skipped message=\"needs io_uring.op.TIMEOUT\"/>"), std::string::npos);
}

TEST(KtapWriter, VersionPlanAndDirectives) {
  std::string k = render("ktap", kResults);
  EXPECT_EQ(k.rfind("KTAP version 1\n1..4\n", 0), 0u) << k;
  EXPECT_NE(k.find("ok 1 errors.bad-fd@libaio\n"), std::string::npos);
  EXPECT_NE(k.find("not ok 2 errors.bad-fd@io_uring\n"), std::string::npos);
  EXPECT_NE(k.find("ok 3 wait.x@libaio # SKIP needs io_uring.op.TIMEOUT\n"), std::string::npos);
  EXPECT_NE(k.find("not ok 4 cancel.y@posix-aio # ERROR crash: signal SEGV\n"), std::string::npos);
}
