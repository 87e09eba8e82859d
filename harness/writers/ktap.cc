// KTAP version 1 (Documentation/dev-tools/ktap.rst): the plan is known before
// the first case, so results stream. The spec's directives carry the verdicts
// TAP lacks: SKIP with its reason, XFAIL for a known defect that reproduced,
// TIMEOUT, and ERROR for a case that crashed or could not assert anything
// (KTAP does not recognise TAP's TODO). Diagnostics for anything that is not
// a pass go on "# " lines before the result line.
#include <fmt/format.h>

#include "writer.h"

namespace aioh {
namespace {

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '#') c = ' ';
  return s;
}

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
    const std::string_view name = r.verdict_name();
    if (v != Verdict::pass && v != Verdict::skip)
      fmt::print(out_, "# {}: {} expected {} observed {}: {}\n", r.id, name, r.expected, r.observed, one_line(r.reason));
    if (v == Verdict::pass) fmt::print(out_, "ok {} {}\n", n_, r.id);
    else if (v == Verdict::skip) fmt::print(out_, "ok {} {} # SKIP {}\n", n_, r.id, one_line(r.reason));
    else if (v == Verdict::xfail) fmt::print(out_, "not ok {} {} # XFAIL {}\n", n_, r.id, one_line(r.xfail ? r.xfail->ref : ""));
    else if (v == Verdict::timeout) fmt::print(out_, "not ok {} {} # TIMEOUT {}\n", n_, r.id, one_line(r.reason));
    else if (v == Verdict::crash || v == Verdict::broken) fmt::print(out_, "not ok {} {} # ERROR {}: {}\n", n_, r.id, name, one_line(r.reason));
    else fmt::print(out_, "not ok {} {}\n", n_, r.id);
    fflush(out_);
  }

 private:
  FILE* out_;
  size_t n_ = 0;
};

}  // namespace

std::unique_ptr<Writer> make_ktap_writer(FILE* out) { return std::make_unique<KtapWriter>(out); }

}  // namespace aioh
