// Per-target alignment tables (see alignment_table.h).
#include "targets/alignment_table.h"

#include <map>

#include <fmt/format.h>

namespace aioh {
namespace {

// The final outcome of a case: "ok" for a value, else "EINVAL@completion".
std::string cell(const Result* r) {
  if (!r) return "-";
  if (r->verdict == Verdict::skip) return "skip";
  if (r->observations.empty()) return std::string(r->verdict_name());
  const auto& o = r->observations.back();
  std::string c = o.errno_name ? fmt::format("{}@{}", *o.errno_name, phase_name(o.phase)) : "ok";
  bool mismatch = r->verdict != Verdict::pass && r->verdict != Verdict::xfail;
  return mismatch ? c + " !" + std::string(r->verdict_name()) : c;
}

}  // namespace

int print_alignment_tables(FILE* out, const std::vector<Result>& results,
                           const std::vector<std::string>& interfaces, bool color) {
  std::vector<std::string> targets;
  std::map<std::string, std::vector<std::string>> shapes;  // target -> case ids in order
  std::map<std::string, std::map<std::string, std::map<std::string, const Result*>>> cells;
  std::map<std::string, std::string> geometry;
  for (auto& r : results) {
    if (!r.target) continue;
    const TargetRecord& tr = *r.target;
    std::string t = tr.name;
    if (!cells.count(t)) {
      targets.push_back(t);
      auto num = [&](const char* k) {
        auto it = tr.facts.find(k);
        if (it == tr.facts.end()) return std::string("-");
        return std::visit([](auto&& x) { return fmt::format("{}", x); }, it->second);
      };
      geometry[t] = fmt::format("fs {}, logical_block_size {}, dio_mem_align {}, dio_offset_align {}, dio_fallback {}",
                                tr.fs.empty() ? "none" : tr.fs, num("logical_block_size"), num("dio_mem_align"),
                                num("dio_offset_align"), num("dio_fallback"));
    }
    auto& by_case = cells[t];
    if (!by_case.count(r.case_id)) shapes[t].push_back(r.case_id);
    by_case[r.case_id][r.interface] = &r;
  }
  int mismatches = 0;
  const int w = 24;
  for (auto& t : targets) {
    fmt::print(out, "\nO_DIRECT alignment on target {} ({})\n", t, geometry[t]);
    fmt::print(out, "{:<2}{:<36}", "", "request shape");
    for (auto& i : interfaces) fmt::print(out, " {:<{}}", i, w);
    fmt::print(out, "\n");
    for (auto& id : shapes[t]) {
      auto& row = cells[t][id];
      bool bad = false;
      for (auto& [_, r] : row) bad |= r->verdict != Verdict::pass && r->verdict != Verdict::xfail && r->verdict != Verdict::skip;
      mismatches += bad;
      std::string mark = bad ? (color ? "\033[31m!\033[0m" : "!") : " ";
      fmt::print(out, "{} {:<36}", mark, id);
      for (auto& i : interfaces) {
        std::string c = cell(row.count(i) ? row[i] : nullptr);
        if (c.size() > static_cast<size_t>(w)) c = c.substr(0, w - 1) + "~";
        fmt::print(out, " {:<{}}", c, w);
      }
      fmt::print(out, "\n");
    }
  }
  if (!targets.empty())
    fmt::print(out, "\n{} target(s); {} request shape(s) where an observation differs from the prediction (!)\n",
               targets.size(), mismatches);
  return mismatches;
}

}  // namespace aioh
