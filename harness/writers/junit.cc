// JUnit XML as the Jenkins schema (junit-10.xsd, reports/schema/) and the
// parsers of CI systems read it: one <testsuite> per interface with its time,
// timestamp, hostname and the environment as <properties>, one <testcase> per
// case x interface. Each verdict maps from the vocabulary: a verdict that
// fails the run is a <failure> (fail) or an <error> (the case could not
// finish: timeout, crash, broken, the VM verdicts); skip is <skipped>; xfail is
// <skipped type="xfail"> as pytest writes it; xpass passes, with a loud
// <system-out> (it does not fail the run, see vocabulary.h). Every text goes
// through xml_text(), so no byte of a reason, source or stderr tail can make
// the file ill-formed. Written at the end of the run (the format wants its
// counts first); json/jsonl stream.
#include <fmt/format.h>

#include "text.h"
#include "writer.h"

namespace aioh {
namespace {

enum class Mark { none, failure, error, skipped };

Mark mark_of(Verdict v) {
  if (v == Verdict::fail) return Mark::failure;
  if (v == Verdict::skip || v == Verdict::xfail) return Mark::skipped;
  if (verdict_def(v).fails_run) return Mark::error;
  return Mark::none;  // pass, xpass
}

std::string attr(std::string_view s) { return xml_text(s, true); }
std::string text(std::string_view s) { return xml_text(s, false); }

// "2026-11-26T00:00:00Z" -> "2026-11-26T00:00:00": the Ant/Jenkins timestamp
// carries no zone designator; the run's times are UTC (the suite's "started"
// property keeps the original).
std::string junit_timestamp(std::string t) {
  if (!t.empty() && t.back() == 'Z') t.pop_back();
  return t;
}

class JunitWriter : public Writer {
 public:
  explicit JunitWriter(FILE* out) : out_(out) {}

  void begin(const RunInfo&, const Environment& env) override {
    for (auto key : {"kernel_release", "machine", "distro", "glibc_version", "liburing_version", "libaio_version",
                     "fault_seed", "policy"})
      if (auto it = env.info.find(key); it != env.info.end() && !it->second.empty()) props_.emplace_back(key, it->second);
  }

  void result(const Result& r) override { results_.push_back(r); }

  void end(const RunInfo& run, const Summary&) override {
    struct Counts {
      int tests = 0, failures = 0, errors = 0, skipped = 0;
      double ms = 0;
    };
    std::map<std::string, Counts> suites;
    Counts all;
    for (auto& r : results_) {
      for (Counts* c : {&suites[r.interface], &all}) {
        c->tests++;
        c->ms += r.duration_ms;
        switch (mark_of(r.verdict)) {
          case Mark::failure: c->failures++; break;
          case Mark::error: c->errors++; break;
          case Mark::skipped: c->skipped++; break;
          case Mark::none: break;
        }
      }
    }
    fmt::print(out_, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fmt::print(out_, "<testsuites name=\"aioharness\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
               all.tests, all.failures, all.errors, all.ms / 1000);
    for (auto& [iface, c] : suites) {
      fmt::print(out_,
                 "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\" "
                 "timestamp=\"{}\" hostname=\"{}\">\n",
                 attr(iface), c.tests, c.failures, c.errors, c.skipped, c.ms / 1000, attr(junit_timestamp(run.started)),
                 attr(run.host.empty() ? "localhost" : run.host));
      fmt::print(out_, "    <properties>\n");
      fmt::print(out_, "      <property name=\"started\" value=\"{}\"/>\n", attr(run.started));
      for (auto& [k, v] : props_) fmt::print(out_, "      <property name=\"{}\" value=\"{}\"/>\n", attr(k), attr(v));
      fmt::print(out_, "    </properties>\n");
      for (auto& r : results_)
        if (r.interface == iface) testcase(r);
      fmt::print(out_, "  </testsuite>\n");
    }
    fmt::print(out_, "</testsuites>\n");
    fflush(out_);
  }

 private:
  void testcase(const Result& r) {
    fmt::print(out_, "    <testcase classname=\"aioharness.{}.{}\" name=\"{}\" time=\"{:.4f}\"", attr(r.interface),
               attr(r.area), attr(r.id), r.duration_ms / 1000);
    std::string_view v = r.verdict_name();
    std::string body = fmt::format("verdict {}\nexpected {}\nobserved {}\nsource {}", v, r.expected, r.observed, r.source);
    if (!r.reason.empty()) body += "\nreason " + r.reason;
    std::string defect = r.xfail ? r.xfail->reason + " (" + r.xfail->ref + ")" : "";
    std::string out;  // <system-out>
    switch (mark_of(r.verdict)) {
      case Mark::failure:
        out = fmt::format("      <failure type=\"{}\" message=\"{}\">{}</failure>\n", attr(v),
                          attr(r.reason.empty() ? "expected " + r.expected + ", observed " + r.observed : r.reason),
                          text(body));
        break;
      case Mark::error:
        out = fmt::format("      <error type=\"{}\" message=\"{}\">{}</error>\n", attr(v),
                          attr(r.reason.empty() ? std::string(v) : r.reason), text(body));
        break;
      case Mark::skipped:
        if (r.verdict == Verdict::xfail)
          out = fmt::format("      <skipped type=\"xfail\" message=\"{}\">{}</skipped>\n",
                            attr("known defect reproduced: " + defect), text(body));
        else
          out = fmt::format("      <skipped message=\"{}\"/>\n", attr(r.reason));
        break;
      case Mark::none:
        if (r.verdict == Verdict::xpass)
          out = fmt::format("      <system-out>{}</system-out>\n",
                            text("XPASS: a known defect did not reproduce; the row may be stale: " + defect + "\n" + body));
        break;
    }
    std::string err = r.stderr_tail.empty() ? "" : fmt::format("      <system-err>{}</system-err>\n", text(r.stderr_tail));
    if (out.empty() && err.empty()) {
      fmt::print(out_, "/>\n");
      return;
    }
    fmt::print(out_, ">\n{}{}    </testcase>\n", out, err);
  }

  FILE* out_;
  std::vector<Result> results_;
  std::vector<std::pair<std::string, std::string>> props_;
};

}  // namespace

std::unique_ptr<Writer> make_junit_writer(FILE* out) { return std::make_unique<JunitWriter>(out); }

}  // namespace aioh
