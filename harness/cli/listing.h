// What --list and --list-scenarios print.
#pragma once

#include "cli/options.h"
#include "cli/selection.h"

namespace aioh::cli {

// Every scenario with its declared parameters (name, type, default, allowed
// values, meaning); --format json for tools.
void print_scenarios(const Options& o);
// The selected ids, one per line; --format json: each with its row's area,
// scenario, source and fault (the VM orchestrator reads those).
void print_list(const Selection& sel, const Options& o);

}  // namespace aioh::cli
