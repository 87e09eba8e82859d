// Case selection: load, expand, narrow by globs, words and an ids file.
#include "cli/selection.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "backend.h"
#include "scheduler.h"

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
  try {
    if (specs.empty()) specs = default_targets();  // AIOH_GUEST_DISKS may be malformed
  } catch (const std::invalid_argument& e) {
    usage_error(e.what());
  }
  return specs;
}

namespace {

// A selector: a --filter or --exclude glob, or a -k word.
struct Pattern {
  std::string text, flag;
  bool glob;
  bool matches(const std::string& id) const {
    if (!glob) return id.find(text) != std::string::npos;
    if (fnmatch(text.c_str(), id.c_str(), 0) == 0) return true;
    // Also the id without its /TARGET, so '*@io_uring' covers the target runs.
    auto at = id.find('@');
    auto slash = at == std::string::npos ? std::string::npos : id.find('/', at);
    return slash != std::string::npos && fnmatch(text.c_str(), id.substr(0, slash).c_str(), 0) == 0;
  }
};

std::vector<Pattern> patterns(const std::vector<std::string>& texts, const std::string& flag, bool glob) {
  std::vector<Pattern> out;
  for (auto& t : texts) out.push_back({t, flag, glob});
  return out;
}

std::string scope(const Options& o) {
  return o.ifaces.size() == interface_names().size() ? "" : fmt::format(" on {}", o.interfaces);
}

// Filters and -k words select (any match), then excludes remove. Each must
// match something: a misspelt one is an error, not a silent no-op.
void apply_patterns(std::vector<CaseRun>& runs, const Options& o) {
  auto include = patterns(o.filters, "--filter", true);
  for (auto& k : patterns(o.keywords, "-k", false)) include.push_back(k);
  if (!include.empty()) {
    for (auto& p : include)
      if (std::none_of(runs.begin(), runs.end(), [&](const CaseRun& r) { return p.matches(r.id); }))
        usage_error(fmt::format("{} '{}' matches no case id{}", p.flag, p.text, scope(o)));
    std::erase_if(runs, [&](const CaseRun& r) {
      return std::none_of(include.begin(), include.end(), [&](const Pattern& p) { return p.matches(r.id); });
    });
  }
  for (auto& p : patterns(o.excludes, "--exclude", true)) {
    if (std::none_of(runs.begin(), runs.end(), [&](const CaseRun& r) { return p.matches(r.id); }))
      usage_error(fmt::format("--exclude '{}' matches none of the selected case ids{}", p.text, scope(o)));
    std::erase_if(runs, [&](const CaseRun& r) { return p.matches(r.id); });
  }
}

// One id per line; blank lines and # comments skipped. An id that is not
// among the selected runs is an error naming its line.
void apply_ids_file(std::vector<CaseRun>& runs, const Options& o) {
  const std::string& ids_file = o.ids_file;
  if (ids_file.empty()) return;
  std::string text;
  try {
    text = read_text_file(ids_file);
  } catch (const LoadError& e) {
    usage_error(fmt::format("--ids {}", e.what()));
  }
  std::set<std::string> known;
  for (auto& r : runs) known.insert(r.id);
  std::set<std::string> wanted;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); n++) {
    while (!line.empty() && isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (!known.count(line)) usage_error(fmt::format("{}:{}: unknown case id '{}'{}", ids_file, n, line, scope(o)));
    wanted.insert(line);
  }
  if (wanted.empty()) usage_error(fmt::format("{}: names no case id", ids_file));
  std::erase_if(runs, [&](const CaseRun& r) { return !wanted.count(r.id); });
}

// --shard I/N: the part of the selection that is this shard's.
void apply_shard(std::vector<CaseRun>& runs, const Options& o) {
  if (!o.shard_count) return;
  std::vector<std::string> ids;
  for (auto& r : runs) ids.push_back(r.id);
  std::vector<CaseRun> part;
  for (auto k : shard_indices(ids, Shard{o.shard_index, o.shard_count}, o.durations)) part.push_back(runs[k]);
  runs = std::move(part);
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
  apply_patterns(sel.runs, o);
  apply_ids_file(sel.runs, o);
  apply_shard(sel.runs, o);
  if (sel.runs.empty() && !o.probe_only) usage_error("no case matches the chosen interfaces, filters and ids");
  return sel;
}

}  // namespace aioh::cli
