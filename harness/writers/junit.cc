// JUnit XML: one testsuite per interface, one testcase per case×interface.
// fail and xpass are <failure>; timeout, crash and broken are <error>; skip
// and xfail are <skipped> with their reason. Written at the end of the run
// (the format needs counts up front); use json/jsonl for streaming.
#include <fmt/format.h>

#include "writer.h"

namespace aioh {
namespace {

std::string xml_escape(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default:
        if (c < 0x20 && c != '\n' && c != '\t') o += fmt::format("&#x{:x};", c == 0 ? 0xfffd : c);
        else o += static_cast<char>(c);
    }
  }
  return o;
}

class JunitWriter : public Writer {
 public:
  explicit JunitWriter(FILE* out) : out_(out) {}
  void result(const Result& r) override { results_.push_back(r); }

  void end(const RunInfo&, const Summary& s) override {
    auto n = [&](Verdict v) { return s.count(v); };
    double total_ms = 0;
    for (auto& r : results_) total_ms += r.duration_ms;
    fmt::print(out_, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fmt::print(out_, "<testsuites name=\"aioharness\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
               s.total(), n(Verdict::fail) + n(Verdict::xpass), n(Verdict::timeout) + n(Verdict::crash) + n(Verdict::broken),
               n(Verdict::skip) + n(Verdict::xfail),
               total_ms / 1000);
    for (auto& [iface, counts] : s.by_interface) {
      auto c = [&](Verdict v) { auto it = counts.find(v); return it == counts.end() ? 0 : it->second; };
      int tests = 0;
      for (auto& [_, k] : counts) tests += k;
      fmt::print(out_, "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">\n",
                 xml_escape(iface), tests, c(Verdict::fail) + c(Verdict::xpass),
                 c(Verdict::timeout) + c(Verdict::crash) + c(Verdict::broken), c(Verdict::skip) + c(Verdict::xfail));
      for (auto& r : results_) {
        if (r.interface != iface) continue;
        fmt::print(out_, "    <testcase classname=\"aioharness.{}.{}\" name=\"{}\" time=\"{:.4f}\">\n",
                   xml_escape(iface), xml_escape(r.area), xml_escape(r.id), r.duration_ms / 1000);
        std::string msg = xml_escape(r.reason);
        std::string body = xml_escape(fmt::format("expected {}\nobserved {}\nsource {}", r.expected, r.observed, r.source));
        std::string_view v = r.verdict_name();
        if (r.verdict == Verdict::fail || r.verdict == Verdict::xpass)
          fmt::print(out_, "      <failure type=\"{}\" message=\"{}\">{}</failure>\n", v, msg, body);
        else if (r.verdict == Verdict::timeout || r.verdict == Verdict::crash || r.verdict == Verdict::broken)
          fmt::print(out_, "      <error type=\"{}\" message=\"{}\">{}</error>\n", v, msg, body);
        else if (r.verdict == Verdict::skip)
          fmt::print(out_, "      <skipped message=\"{}\"/>\n", msg);
        else if (r.verdict == Verdict::xfail && r.xfail)
          fmt::print(out_, "      <skipped message=\"xfail: {}\"/>\n", xml_escape(r.xfail->reason + " (" + r.xfail->ref + ")"));
        fmt::print(out_, "    </testcase>\n");
      }
      fmt::print(out_, "  </testsuite>\n");
    }
    fmt::print(out_, "</testsuites>\n");
    fflush(out_);
  }

 private:
  FILE* out_;
  std::vector<Result> results_;
};

}  // namespace

std::unique_ptr<Writer> make_junit_writer(FILE* out) { return std::make_unique<JunitWriter>(out); }

}  // namespace aioh
