// A run: its scratch directory, the probe (under a --policy profile when one
// is named), the targets its cases use, the cases themselves through the
// Runner, and everything set up torn down again. Also --probe, which stops
// after the probe.
#pragma once

#include "cli/options.h"
#include "cli/selection.h"

namespace aioh::cli {

// Returns the exit status (vocabulary.h kExitStatuses).
int run(const Options& o, const Selection& sel);

}  // namespace aioh::cli
