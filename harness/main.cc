// The `harness` command line: choose interfaces and cases, probe the machine,
// run every case in its own watched child, and stream the results.
// The pieces live in cli/: options (the flags), selection (which cases),
// outputs (the writers) and run (scratch, probe, targets, the run itself).
// Exit statuses: vocabulary.h kExitStatuses.
#include <fmt/format.h>

#include "cli/options.h"
#include "cli/run.h"
#include "cli/selection.h"
#include "journal.h"
#include "runner.h"
#include "vocabulary.h"

int main(int argc, char** argv) {
  using namespace aioh;
  // First: a signal from here on ends the run on its ordinary path (system/signals.h).
  install_stop_handlers();
  cli::Options opts;
  if (auto status = cli::parse_options(argc, argv, opts)) return *status;
  if (opts.vocabulary) {
    fmt::print("{}\n", vocabulary_json().dump(2));
    return 0;
  }
  // Targets are fixed before expansion so ids can be listed without root.
  auto targets = cli::target_specs(opts);

  // Undo what earlier runs that were killed left behind, before anything else.
  if (auto why = Journal::state_dir_problem(); !why.empty()) cli::usage_error(why);
  bool recovered_clean = true;
  for (auto& line : Journal::recover(false, &recovered_clean)) fmt::print(stderr, "cleanup: {}\n", line);
  if (opts.cleanup) return recovered_clean ? 0 : 1;
  if (opts.list_scenarios) {
    cli::print_scenarios();
    return 0;
  }

  auto sel = cli::select_cases(opts, std::move(targets));
  if (opts.list) {
    cli::print_list(sel, opts);
    return 0;
  }
  return cli::run(opts, sel);
}
