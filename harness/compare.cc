// Side-by-side view of shared scenarios (see compare.h).
#include "compare.h"

#include <map>
#include <set>

#include <fmt/format.h>

namespace aioh {
namespace {

std::string final_token(const Result& r) {
  if (r.observations.empty()) return "";
  const auto& o = r.observations.back();
  return o.errno_name ? *o.errno_name : "ok";
}

std::string cell(const Result* r) {
  if (!r) return "-";
  if (r->verdict == Verdict::skip) return "skip";
  std::string obs = r->observations.empty() ? "(nothing)" : r->observed;
  return r->verdict == Verdict::pass ? obs : fmt::format("{} [{}]", obs, r->verdict_name());
}

}  // namespace

bool interfaces_disagree(const std::vector<const Result*>& row) {
  std::set<std::string> finals;
  for (auto* r : row)
    if (r && r->verdict != Verdict::skip && !r->observations.empty()) finals.insert(final_token(*r));
  return finals.size() > 1;
}

void print_comparison(FILE* out, const std::vector<Result>& results,
                      const std::vector<std::string>& interfaces, bool color) {
  std::vector<std::string> order;
  std::map<std::string, std::map<std::string, const Result*>> by_case;
  for (auto& r : results) {
    if (!by_case.count(r.case_id)) order.push_back(r.case_id);
    by_case[r.case_id][r.interface] = &r;
  }
  const int w = 34;
  fmt::print(out, "\n{:<2}{:<40}", "", "case");
  for (auto& i : interfaces) fmt::print(out, " {:<{}}", i, w);
  fmt::print(out, "\n");
  int shared = 0, differing = 0;
  for (auto& id : order) {
    auto& m = by_case[id];
    if (m.size() < 2) continue;  // only scenarios that exist on several interfaces
    shared++;
    std::vector<const Result*> row;
    for (auto& i : interfaces) row.push_back(m.count(i) ? m[i] : nullptr);
    bool differ = interfaces_disagree(row);
    differing += differ;
    std::string mark = differ ? (color ? "\033[33m≠\033[0m" : "≠") : " ";
    fmt::print(out, "{} {:<40}", mark, id);
    for (auto* r : row) {
      std::string c = cell(r);
      if (c.size() > static_cast<size_t>(w)) c = c.substr(0, w - 1) + "~";
      fmt::print(out, " {:<{}}", c, w);
    }
    fmt::print(out, "\n");
  }
  fmt::print(out, "\n{} shared scenarios; {} end differently across interfaces (≠) after normalising conventions\n",
             shared, differing);
}

}  // namespace aioh
