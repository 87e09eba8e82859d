// The human table: one line per case as it ends, the expected/observed pair
// and the reason under anything that is not a pass, and a per-interface
// summary at the end.
#include <unistd.h>

#include <fmt/format.h>

#include "writer.h"

namespace aioh {
namespace {

const char* colour(const std::string& v) {
  if (v == "pass") return "\033[32m";
  if (v == "skip" || v == "xfail") return "\033[33m";
  if (v == "xpass") return "\033[35;1m";
  return "\033[31;1m";
}

class TableWriter : public Writer {
 public:
  TableWriter(FILE* out, bool color) : out_(out), color_(color) {}

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
    std::string v = r.verdict;
    for (auto& ch : v) ch = static_cast<char>(toupper(ch));
    std::string vv = color_ ? fmt::format("{}{:<7}\033[0m", colour(r.verdict), v) : fmt::format("{:<7}", v);
    int w = static_cast<int>(std::to_string(planned_).size());
    std::string shown = r.verdict == "skip" ? "" : r.observed;
    fmt::print(out_, "[{:>{}}/{}] {} {:<52} {:<30} {:>8.1f} ms\n", done_, w, planned_, vv, r.id, shown, r.duration_ms);
    if (r.verdict == "skip") {
      fmt::print(out_, "{:>{}}   {}\n", "", w * 2 + 3, r.reason);
    } else if (r.verdict != "pass") {
      fmt::print(out_, "{:>{}}   expected {}  observed {}\n", "", w * 2 + 3, r.expected, r.observed);
      if (!r.reason.empty()) fmt::print(out_, "{:>{}}   {}\n", "", w * 2 + 3, r.reason);
      if (!r.xfail.is_null())
        fmt::print(out_, "{:>{}}   known defect: {} ({})\n", "", w * 2 + 3, r.xfail.value("reason", ""), r.xfail.value("ref", ""));
    }
    fflush(out_);
  }

  void end(const RunInfo&, const Summary& s) override {
    fmt::print(out_, "\n{:<12}", "interface");
    for (const char* v : kVerdicts) fmt::print(out_, " {:>7}", v);
    fmt::print(out_, "\n");
    auto row = [&](const std::string& name, const std::map<std::string, int>& counts) {
      fmt::print(out_, "{:<12}", name);
      for (const char* v : kVerdicts) {
        auto it = counts.find(v);
        fmt::print(out_, " {:>7}", it == counts.end() ? 0 : it->second);
      }
      fmt::print(out_, "\n");
    };
    for (auto& [iface, counts] : s.by_interface) row(iface, counts);
    row("total", s.counts);
    auto xp = s.counts.find("xpass");
    if (xp != s.counts.end() && xp->second > 0)
      fmt::print(out_, "\n!!! {} known-defect case(s) passed unexpectedly (xpass): the defect may be fixed here; update the table.\n",
                 xp->second);
    fmt::print(out_, "\n{}\n", s.failed() ? "RESULT: FAILED" : "RESULT: OK");
    fflush(out_);
  }

 private:
  FILE* out_;
  bool color_;
  size_t planned_ = 0, done_ = 0;
};

}  // namespace

std::unique_ptr<Writer> make_table_writer(FILE* out, bool color) {
  return std::make_unique<TableWriter>(out, color);
}

}  // namespace aioh
