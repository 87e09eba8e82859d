// KTAP version 1 (Documentation/dev-tools/ktap.rst) with kselftest's
// directives (tools/testing/selftests/kselftest.h): the plan is known before
// the first case, so results stream. A result line is "ok" exactly when its
// verdict does not fail the run (vocabulary.h), so `prove` and kunit.py agree
// with the harness's exit status: skip is `ok N id # SKIP reason`, a known
// defect reproduced `ok N id # XFAIL ...`, one that did not reproduce
// `ok N id # XPASS ...` (ksft_test_result_xfail/_xpass print these); fail is
// a plain `not ok`, timeout `not ok ... # TIMEOUT`, a case that crashed or
// could not assert anything `not ok ... # ERROR`. Anything that is not a plain
// pass first gets a "# id: verdict expected ... observed ...: reason" line.
// kselftest's "# Totals:" line ends the run.
#include <fmt/format.h>

#include "text.h"
#include "writer.h"

namespace aioh {
namespace {

class KtapWriter : public Writer {
 public:
  explicit KtapWriter(FILE* out) : out_(out) {}

  void begin(const RunInfo& run, const Environment&) override {
    fmt::print(out_, "KTAP version 1\n1..{}\n", run.planned);
    fflush(out_);
  }

  void result(const Result& r) override {
    ++n_;
    const Verdict v = r.verdict;
    const std::string id = tap_line(r.id);
    const std::string reason = tap_line(r.reason);
    const std::string defect = r.xfail ? tap_line(r.xfail->reason + " (" + r.xfail->ref + ")") : "";
    if (v != Verdict::pass && v != Verdict::skip)
      fmt::print(out_, "# {}: {} expected {} observed {}{}{}\n", id, r.verdict_name(), tap_line(r.expected),
                 tap_line(r.observed), reason.empty() ? "" : ": ", reason);
    const char* ok = verdict_def(v).fails_run ? "not ok" : "ok";
    std::string directive;
    if (v == Verdict::skip) directive = "SKIP " + reason;
    else if (v == Verdict::xfail) directive = "XFAIL known defect reproduced: " + defect;
    else if (v == Verdict::xpass) directive = "XPASS known defect did not reproduce, the row may be stale: " + defect;
    else if (v == Verdict::timeout) directive = "TIMEOUT " + reason;
    else if (v != Verdict::pass && v != Verdict::fail) directive = fmt::format("ERROR {}: {}", r.verdict_name(), reason);
    while (!directive.empty() && directive.back() == ' ') directive.pop_back();
    fmt::print(out_, "{} {} {}{}{}\n", ok, n_, id, directive.empty() ? "" : " # ", directive);
    fflush(out_);
  }

  void end(const RunInfo&, const Summary& s) override {
    std::string totals;
    for (auto& d : kVerdictDefs)
      if (!d.vm_only) totals += fmt::format(" {}:{}", d.name, s.count(d.verdict));
    fmt::print(out_, "# Totals:{}\n", totals);
    fflush(out_);
  }

 private:
  FILE* out_;
  size_t n_ = 0;
};

}  // namespace

std::unique_ptr<Writer> make_ktap_writer(FILE* out) { return std::make_unique<KtapWriter>(out); }

}  // namespace aioh
