// Which cases a run runs: the case tables loaded, crossed with the chosen
// interfaces and targets, then narrowed by --filter, -k, --exclude and --ids.
#pragma once

#include <string>
#include <vector>

#include "case_table.h"
#include "cli/options.h"
#include "targets/target.h"

namespace aioh::cli {

struct Selection {
  std::vector<CaseRow> rows;     // owns what runs point into
  std::vector<Target> targets;   // the target specs (fixed before expansion)
  std::vector<CaseRun> runs;
  // The targets the selected runs use, in first-use order.
  std::vector<std::string> used_targets() const;
};

// The target specs: --target, --device, or the default set. Nothing is
// created yet, so ids can be listed without root.
std::vector<Target> target_specs(const Options& o);

// Loads the tables, expands and filters. A malformed table, an unknown id in
// --ids, or an empty selection is a usage error.
Selection select_cases(const Options& o, std::vector<Target> targets);

}  // namespace aioh::cli
