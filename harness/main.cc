// The `harness` command line: choose interfaces and cases, probe the machine,
// run every case in its own watched child, and stream the results.
// The pieces live in cli/: options (the flags), selection (which cases),
// outputs (the writers and progress) and run (scratch, probe, targets, the
// run itself). Exit statuses: vocabulary.h kExitStatuses (`harness --help`).
// A usage or input error unwinds to here, so everything already set up is
// released before the one line and exit status 2.
#include <fmt/format.h>

#include "cli/options.h"
#include "cli/run.h"
#include "cli/listing.h"
#include "cli/selection.h"
#include "cli/vocabulary.h"
#include "system/journal.h"
#include "runner.h"
#include "vocabulary.h"

namespace {

int harness(int argc, char** argv) {
  using namespace aioh;
  // First: a signal from here on ends the run on its ordinary path (system/signals.h).
  install_stop_handlers();
  cli::Options opts;
  if (auto status = cli::parse_options(argc, argv, opts)) return *status;
  if (opts.vocabulary) {
    fmt::print("{}\n", cli::vocabulary_json().dump(2));
    return kExitOk;
  }
  // Targets are fixed before expansion so ids can be listed without root.
  auto targets = cli::target_specs(opts);

  // Undo what earlier runs that were killed left behind, before anything else.
  if (auto why = Journal::state_dir_problem(); !why.empty()) cli::usage_error(why);
  bool recovered_clean = true;
  for (auto& line : Journal::recover(false, &recovered_clean)) fmt::print(stderr, "cleanup: {}\n", line);
  if (opts.cleanup) return recovered_clean ? kExitOk : kExitFailed;
  if (opts.list_scenarios) {
    cli::print_scenarios(opts);
    return kExitOk;
  }

  auto sel = cli::select_cases(opts, std::move(targets));
  if (opts.list) {
    cli::print_list(sel, opts);
    return kExitOk;
  }
  return cli::run(opts, sel);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return harness(argc, argv);
  } catch (const aioh::cli::UsageError& e) {
    fmt::print(stderr, "harness: {}\n", e.what());
    return aioh::kExitUsage;
  }
}
