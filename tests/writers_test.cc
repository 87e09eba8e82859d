// Writers: the JSON document is valid and streams (a cut-off run leaves every
// finished result), JSON lines are one object each, JUnit counts and classes
// match the verdicts, KTAP has its version, plan and kselftest's directives;
// any byte in a reason, source or stderr tail leaves JSON, XML and KTAP valid
// (checked with xmllint against the Jenkins schema and python3-junitparser,
// the consumers); --output specs parse; a write that fails is reported.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "system/child.h"
#include "writers/outputs.h"
#include "writers/text.h"
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
  // junit-10.xsd has no `skipped` on <testsuites>; each <testsuite> carries it.
  EXPECT_NE(x.find("<testsuites name=\"aioharness\" tests=\"4\" failures=\"1\" errors=\"1\" time="), std::string::npos)
      << x;
  EXPECT_NE(x.find("<failure type=\"fail\" message=\"step 1 differs\">"), std::string::npos);
  EXPECT_NE(x.find("<error type=\"crash\""), std::string::npos);
  EXPECT_NE(x.find("<skipped message=\"needs io_uring.op.TIMEOUT\"/>"), std::string::npos);
  EXPECT_NE(x.find("timestamp=\"2026-11-26T00:00:00\" hostname=\"host\""), std::string::npos);
}

TEST(JunitWriter, XfailIsSkippedAndXpassPassesLoudly) {
  auto xf = make("wait.z", "libaio", "xfail");
  xf.xfail = XFailRecord{"io_getevents returns early", "linux commit 0123abcd", ""};
  auto xp = make("wait.z", "io_uring", "xpass");
  xp.xfail = XFailRecord{"a defect", "linux commit 4567", ""};
  std::string x = render("junit", {xf, xp});
  EXPECT_NE(x.find("<skipped type=\"xfail\" message=\"known defect reproduced: io_getevents returns early (linux commit "
                   "0123abcd)\">"),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("<system-out>XPASS: a known defect did not reproduce"), std::string::npos) << x;
  EXPECT_EQ(x.find("<failure"), std::string::npos) << x;
  EXPECT_NE(x.find("tests=\"2\" failures=\"0\" errors=\"0\""), std::string::npos) << x;
}

TEST(KtapWriter, VersionPlanAndDirectives) {
  auto xf = make("wait.z", "libaio", "xfail");
  xf.xfail = XFailRecord{"early return", "linux commit 0123abcd", ""};
  auto xp = make("wait.z", "io_uring", "xpass");
  xp.xfail = XFailRecord{"a defect", "ref", ""};
  auto rs = kResults;
  rs.push_back(xf);
  rs.push_back(xp);
  std::string k = render("ktap", rs);
  EXPECT_EQ(k.rfind("KTAP version 1\n1..6\n", 0), 0u) << k;
  EXPECT_NE(k.find("ok 1 errors.bad-fd@libaio\n"), std::string::npos);
  EXPECT_NE(k.find("not ok 2 errors.bad-fd@io_uring\n"), std::string::npos);
  EXPECT_NE(k.find("ok 3 wait.x@libaio # SKIP needs io_uring.op.TIMEOUT\n"), std::string::npos);
  EXPECT_NE(k.find("not ok 4 cancel.y@posix-aio # ERROR crash: signal SEGV\n"), std::string::npos);
  // kselftest: ksft_test_result_xfail/_xpass print "ok N ... # XFAIL|XPASS".
  EXPECT_NE(k.find("\nok 5 wait.z@libaio # XFAIL known defect reproduced: early return (linux commit 0123abcd)\n"),
            std::string::npos)
      << k;
  EXPECT_NE(k.find("\nok 6 wait.z@io_uring # XPASS "), std::string::npos) << k;
  EXPECT_NE(k.find("# Totals: pass:1 fail:1 skip:1 xfail:1 xpass:1 broken:0 timeout:0 crash:1\n"), std::string::npos) << k;
}

// ---- text that every consumer can carry ------------------------------------

TEST(Text, InvalidUtf8IsReplacedNotDropped) {
  EXPECT_EQ(valid_utf8("ok \xc3\xa9"), "ok \xc3\xa9");
  EXPECT_EQ(valid_utf8("a\xff" "b"), "a\xef\xbf\xbd" "b");
  EXPECT_EQ(valid_utf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");          // overlong '/'
  EXPECT_EQ(valid_utf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // a surrogate
  EXPECT_EQ(valid_utf8("\xe2\x82"), "\xef\xbf\xbd");                        // cut short
  EXPECT_EQ(valid_utf8("\xf4\x90\x80\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // past U+10FFFF
}

TEST(Text, XmlCarriesEveryByteWithoutCharacterReferencesToControls) {
  std::string all;
  for (int c = 0; c < 256; c++) all += static_cast<char>(c);
  for (bool attr : {false, true}) {
    std::string x = xml_text(all, attr);
    EXPECT_EQ(x.find("&#x"), std::string::npos);
    for (unsigned char c : x) EXPECT_FALSE(c < 0x20 && c != '\t' && c != '\n') << int(c);
    EXPECT_NE(x.find("\xe2\x90\x9b"), std::string::npos);  // ESC as U+241B
    EXPECT_NE(x.find("&amp;"), std::string::npos);
    EXPECT_NE(x.find("&lt;"), std::string::npos);
  }
  EXPECT_NE(xml_text("a\nb", true).find("&#10;"), std::string::npos);
  EXPECT_EQ(xml_text("a\nb", false), "a\nb");
}

TEST(Text, TapLineIsOneLineWithoutDirectives) {
  std::string t = tap_line("a\nb # SKIP \x1b[0m\xff");
  EXPECT_EQ(t.find('\n'), std::string::npos);
  EXPECT_EQ(t.find('#'), std::string::npos);
  EXPECT_EQ(t, "a\xe2\x90\x8a" "b \xef\xbc\x83 SKIP \xe2\x90\x9b[0m\xef\xbf\xbd");
}

// Every byte in a reason, source, xfail entry and stderr tail: the JSON still
// parses, the KTAP stays one line per result, and the JUnit validates against
// the Jenkins schema (xmllint) and loads in python3-junitparser.
TEST(Writers, AnyByteKeepsEveryFormatValid) {
  std::string all;
  for (int c = 0; c < 256; c++) all += static_cast<char>(c);
  all += "\xed\xa0\x80 \xc0\xaf \xf8\x88\x80\x80\x80 ]]> -- <!-- &#x1b;";
  auto r = make("errors.bytes", "libaio", "fail", all);
  r.source = all;
  r.stderr_tail = all;
  r.notes = {all};
  auto x = make("errors.bytes", "io_uring", "xfail", all);
  x.xfail = XFailRecord{all, all, ""};
  auto p = make("errors.bytes", "kernel-aio", "xpass", all);
  p.xfail = XFailRecord{all, all, ""};
  std::vector<Result> rs = {r, x, p};

  auto j = nlohmann::json::parse(render("json", rs));
  EXPECT_EQ(j["results"].size(), 3u);
  std::string k = render("ktap", rs);
  int lines = 0;
  for (char c : k) lines += c == '\n';
  EXPECT_EQ(lines, 2 + 3 + 3 + 1) << k;  // header, 3 diagnostics, 3 results, totals

  std::string xml = render("junit", rs);
  char dir[] = "/tmp/aioh-junit-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string file = std::string(dir) + "/run.xml";
  std::ofstream(file) << xml;
  const std::string xsd = std::string(AIOH_SOURCE_DIR) + "/reports/schema/junit-10.xsd";
  if (::system("command -v xmllint >/dev/null") != 0) GTEST_SKIP() << "xmllint is not installed (libxml2-utils)";
  EXPECT_EQ(::system(("xmllint --noout --schema " + xsd + " " + file).c_str()), 0) << xml;
  int junitparser = ::system(("/usr/bin/python3 -c 'import junitparser, sys; x = junitparser.JUnitXml.fromfile(sys.argv[1]);"
                            " assert sum(1 for s in x for c in s) == 3' " + file).c_str());
  EXPECT_EQ(junitparser, 0) << "python3-junitparser could not load the file";
  std::remove(file.c_str());
  rmdir(dir);
}

// ---- --output ----------------------------------------------------------------

TEST(OutputSpecs, FormatColonPathRepeatableAndPlainPathWithFormat) {
  std::vector<OutputSpec> specs;
  EXPECT_EQ(parse_output_specs({"json:run.json", "junit:out/run.xml", "ktap:r.ktap"}, "table", &specs), "");
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[1].format, "junit");
  EXPECT_EQ(specs[1].path, "out/run.xml");
  specs.clear();
  EXPECT_EQ(parse_output_specs({"run.json"}, "json", &specs), "");  // --format json --output run.json
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].format, "json");
  specs.clear();
  EXPECT_EQ(parse_output_specs({"odd:name.json"}, "jsonl", &specs), "");  // not a format: a path
  EXPECT_EQ(specs[0].path, "odd:name.json");
  specs.clear();
  EXPECT_NE(parse_output_specs({"json:"}, "table", &specs), "");
  specs.clear();
  EXPECT_NE(parse_output_specs({""}, "table", &specs), "");
  specs.clear();
  EXPECT_NE(parse_output_specs({"json:a", "ktap:a"}, "table", &specs).find("named twice"), std::string::npos);
}

TEST(Outputs, AnExistingFileIsRefused) {
  char dir[] = "/tmp/aioh-out-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/run.json";
  std::ofstream(path) << "keep";
  OutputStreams o;
  EXPECT_EQ(o.add_file({"json", path}), path + " exists; a result is never overwritten");
  std::ifstream in(path);
  std::string kept((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(kept, "keep");
  unlink(path.c_str());
  rmdir(dir);
}

// Runs `n` results through OutputStreams (JSON on stdout and in every spec's
// file) in a forked child that `prepare`s its stdout, limits or specs first
// (a limit set there cannot leak into the test process: root here cannot
// raise a hard limit again); returns the lines close() reported, or "child failed: ..." when the child did not finish.
std::vector<std::string> errors_in_child(const std::function<std::vector<OutputSpec>()>& prepare, int n) {
  system::ChildOutput child = system::run_in_child([&] {
    auto specs = prepare();
    OutputStreams o;
    if (!o.add_stream("stdout", STDOUT_FILENO, [](FILE* f) { return make_writer("json", f, false); }).empty())
      return std::string("child failed: add_stream\n");
    for (auto& spec : specs)
      if (!o.add_file(spec).empty()) return std::string("child failed: add_file\n");
    Environment env;
    RunInfo run{"2026-11-26T00:00:00Z", "", "host", {"harness"}, static_cast<size_t>(n)};
    o.begin(run, env);
    Summary s;
    for (int i = 0; i < n; i++) {
      auto r = make("errors.n" + std::to_string(i), "libaio", "pass");
      o.result(r);
      s.add(r);
    }
    o.end(run, s);
    std::string all;
    for (auto& e : o.close()) all += e + "\n";
    return all;
  }, 0);
  if (!child.error.empty() || child.signal) return {fmt::format("child failed: {} signal {}", child.error, child.signal)};
  const std::string& got = child.out;
  std::vector<std::string> lines;
  for (size_t a = 0, b; (b = got.find('\n', a)) != std::string::npos; a = b + 1) lines.push_back(got.substr(a, b - a));
  return lines;
}

// stdout on a full disk (/dev/full): reported as one line, never swallowed.
TEST(Outputs, AFullStdoutIsReported) {
  auto errs = errors_in_child([] {
    if (!freopen("/dev/full", "w", stdout)) _exit(5);
    return std::vector<OutputSpec>{};
  }, 1);
  EXPECT_EQ(errs, std::vector<std::string>{"cannot write stdout: ENOSPC (No space left on device)"});
}

TEST(Outputs, AFileSizeLimitIsReportedWithTheFileName) {
  char dir[] = "/tmp/aioh-out-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/run.json";
  auto errs = errors_in_child([&] {
    rlimit rl{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &rl);
    if (!freopen("/dev/null", "w", stdout)) _exit(5);
    return std::vector<OutputSpec>{{"json", path}};
  }, 200);
  EXPECT_EQ(errs, std::vector<std::string>{"cannot write " + path + ": EFBIG (File too large)"});
  unlink(path.c_str());
  rmdir(dir);
}

// The harness itself under a file size limit (#19.7): the run goes on, the JSON
// output cannot be completed, and the run ends with one line naming it and
// exit status 2 — never "results written".
TEST(Outputs, TheHarnessReportsAnOutputItCouldNotWrite) {
  char dir[] = "/tmp/aioh-fsize-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string out = std::string(dir) + "/run.json", err = std::string(dir) + "/stderr",
                    table = std::string(dir) + "/stdout", ktap = std::string(dir) + "/run.ktap";
  pid_t pid = fork();
  if (pid == 0) {
    rlimit rl{2048, 2048};  // the environment header alone is larger
    setrlimit(RLIMIT_FSIZE, &rl);
    if (!freopen(err.c_str(), "w", stderr) || !freopen(table.c_str(), "w", stdout)) _exit(100);
    std::string cases = std::string(AIOH_SOURCE_DIR) + "/tests/fixtures/cases-outputs";
    execl(AIOH_HARNESS_BIN, "harness", "--cases", cases.c_str(), "--filter", "outputs.plain-pass@kernel-aio",
          "--output", ("json:" + out).c_str(), "--output", ("ktap:" + ktap).c_str(), "--scratch", dir,
          "--no-kernel-log", static_cast<char*>(nullptr));
    _exit(101);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st)) << "killed by signal " << WTERMSIG(st);
  EXPECT_EQ(WEXITSTATUS(st), 2);
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  std::string e = slurp(err), o = slurp(table);
  EXPECT_NE(e.find("harness: cannot write " + out + ": EFBIG (File too large)\n"), std::string::npos) << e;
  EXPECT_EQ(e.find("cannot write " + ktap), std::string::npos) << e;  // the small one was written
  EXPECT_EQ(o.find("results written"), std::string::npos) << o;
  EXPECT_NE(slurp(ktap).find("ok 1 outputs.plain-pass@kernel-aio"), std::string::npos);
  for (auto& p : {out, err, table, ktap}) std::remove(p.c_str());
  rmdir(dir);
}
