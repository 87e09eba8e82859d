// Case selection: load, expand, filter by glob and by an ids file, list.
#include "cli/selection.h"

#include <fnmatch.h>

#include <algorithm>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "scenario.h"

namespace aioh::cli {

std::vector<std::string> Selection::used_targets() const {
  std::vector<std::string> wanted;
  for (auto& r : runs)
    if (auto t = run_target(r); !t.empty() && std::find(wanted.begin(), wanted.end(), t) == wanted.end())
      wanted.push_back(t);
  return wanted;
}

std::vector<Target> target_specs(const Options& o) {
  std::vector<Target> specs;
  if (!o.target_dir.empty()) specs.push_back(dir_target(o.target_dir));
  if (!o.device.empty()) specs.push_back(device_target(o.device));
  if (specs.empty()) specs = default_targets();
  return specs;
}

namespace {

void apply_filters(std::vector<CaseRun>& runs, const std::vector<std::string>& filters) {
  if (filters.empty()) return;
  std::erase_if(runs, [&](const CaseRun& r) {
    for (auto& f : filters)
      if (fnmatch(f.c_str(), r.id.c_str(), 0) == 0) return false;
    return true;
  });
}

void apply_ids_file(std::vector<CaseRun>& runs, const std::string& ids_file) {
  if (ids_file.empty()) return;
  std::ifstream f(ids_file);
  if (!f) usage_error(fmt::format("cannot read --ids file {}", ids_file));
  std::set<std::string> wanted;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty() && line[0] != '#') wanted.insert(line);
  std::set<std::string> known;
  for (auto& r : runs) known.insert(r.id);
  for (auto& w : wanted)
    if (!known.count(w)) usage_error(fmt::format("unknown case id '{}' in {}", w, ids_file));
  std::erase_if(runs, [&](const CaseRun& r) { return !wanted.count(r.id); });
}

}  // namespace

Selection select_cases(const Options& o, std::vector<Target> targets) {
  Selection sel;
  sel.targets = std::move(targets);
  try {
    sel.rows = load_case_dir(o.cases_dir);
  } catch (const LoadError& e) {
    usage_error(e.what());
  }
  sel.runs = expand(sel.rows, o.ifaces, sel.targets);
  apply_filters(sel.runs, o.filters);
  apply_ids_file(sel.runs, o.ids_file);
  if (sel.runs.empty() && !o.probe_only) usage_error("no case matches the chosen interfaces and filters");
  return sel;
}

void print_scenarios() {
  for (auto& s : scenario_names()) fmt::print("{}\n", s);
}

void print_list(const Selection& sel, const Options& o) {
  if (o.format != "json") {
    for (auto& r : sel.runs) fmt::print("{}\n", r.id);
    return;
  }
  nlohmann::json arr = nlohmann::json::array();
  for (auto& r : sel.runs) {
    arr.push_back({{"id", r.id}, {"case", r.row->case_id()}, {"area", r.row->area},
                   {"interface", r.interface}, {"scenario", r.row->scenario}, {"source", r.row->source}});
    // The VM orchestrator builds each guest's device faults from these.
    if (auto& f = r.row->fault)
      arr.back()["fault"] = {{"layer", f->layer}, {"target", f->target}, {"effect", f->effect}, {"trigger", f->trigger}};
  }
  fmt::print("{}\n", arr.dump(2));
}

}  // namespace aioh::cli
