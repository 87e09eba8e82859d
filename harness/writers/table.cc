// The human table: one line per case as it ends, the expected/observed pair
// and the reason under anything that is not a pass, and a per-interface
// summary at the end.
#include <unistd.h>

#include <fmt/format.h>

#include "writer.h"

namespace aioh {
namespace {

const char* colour(Verdict v) {
  if (v == Verdict::xpass) return "\033[35;1m";  // neutral, but loud
  switch (verdict_def(v).cls) {
    case VerdictClass::good: return v == Verdict::pass ? "\033[32m" : "\033[33m";
    case VerdictClass::neutral: return "\033[33m";
    case VerdictClass::bad: break;
  }
  return "\033[31;1m";
}

class TableWriter : public Writer {
 public:
  TableWriter(FILE* out, bool color, bool quiet) : out_(out), color_(color), quiet_(quiet) {}

  void begin(const RunInfo& run, const Environment& env) override {
    planned_ = run.planned;
    auto info = [&](const char* k) { auto it = env.info.find(k); return it == env.info.end() ? std::string("?") : it->second; };
    fmt::print(out_, "aioharness {} on Linux {} ({}), glibc {}, liburing {}, libaio {}\n", AIOH_VERSION,
               info("kernel_release"), info("machine"), info("glibc_version"), info("liburing_version"),
               info("libaio_version"));
    for (auto& [name, a] : env.interfaces)
      if (!a.available) fmt::print(out_, "  {} unavailable: {}\n", name, a.reason);
    fmt::print(out_, "{} case runs\n\n", planned_);
    fflush(out_);
  }

  void result(const Result& r) override {
    ++done_;
    if (quiet_ && verdict_def(r.verdict).cls == VerdictClass::good) return;  // -q: what did not pass
    std::string v(r.verdict_name());
    for (auto& ch : v) ch = static_cast<char>(toupper(ch));
    std::string vv = color_ ? fmt::format("{}{:<7}\033[0m", colour(r.verdict), v) : fmt::format("{:<7}", v);
    int w = static_cast<int>(std::to_string(planned_).size());
    std::string shown = r.verdict == Verdict::skip ? "" : r.observed;
    fmt::print(out_, "[{:>{}}/{}] {} {:<52} {:<30} {:>8.1f} ms\n", done_, w, planned_, vv, r.id, shown, r.duration_ms);
    if (r.verdict == Verdict::skip) {
      fmt::print(out_, "{:>{}}   {}\n", "", w * 2 + 3, r.reason);
    } else if (r.verdict != Verdict::pass) {
      fmt::print(out_, "{:>{}}   expected {}  observed {}\n", "", w * 2 + 3, r.expected, r.observed);
      if (!r.reason.empty()) fmt::print(out_, "{:>{}}   {}\n", "", w * 2 + 3, r.reason);
      if (r.xfail) fmt::print(out_, "{:>{}}   known defect: {} ({})\n", "", w * 2 + 3, r.xfail->reason, r.xfail->ref);
    }
    fflush(out_);
  }

  void end(const RunInfo&, const Summary& s) override {
    fmt::print(out_, "\n{:<12}", "interface");
    for (auto& d : kVerdictDefs)
      if (!d.vm_only) fmt::print(out_, " {:>7}", d.name);
    fmt::print(out_, "\n");
    auto row = [&](const std::string& name, const std::map<Verdict, int>& counts) {
      fmt::print(out_, "{:<12}", name);
      for (auto& d : kVerdictDefs) {
        if (d.vm_only) continue;
        auto it = counts.find(d.verdict);
        fmt::print(out_, " {:>7}", it == counts.end() ? 0 : it->second);
      }
      fmt::print(out_, "\n");
    };
    for (auto& [iface, counts] : s.by_interface) row(iface, counts);
    row("total", s.counts);
    if (int xp = s.count(Verdict::xpass))
      fmt::print(out_, "\n!!! {} known-defect case(s) passed unexpectedly (xpass): the defect may be fixed here; update the table.\n",
                 xp);
    const char* result = s.failed() ? "FAILED" : s.all_skipped() ? "SKIPPED (every case skipped)" : "OK";
    fmt::print(out_, "\nRESULT: {}\n", result);
    fflush(out_);
  }

 private:
  FILE* out_;
  bool color_, quiet_;
  size_t planned_ = 0, done_ = 0;
};

}  // namespace

std::unique_ptr<Writer> make_table_writer(FILE* out, bool color, bool quiet) {
  return std::make_unique<TableWriter>(out, color, quiet);
}

}  // namespace aioh
