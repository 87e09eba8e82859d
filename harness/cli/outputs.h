// Where a run's results go: the writers chosen by --format, every --output
// and --compare (stdout carries --format; with result files it keeps the
// table unless every file names its format), the files themselves with their
// checked writes (writers/outputs.h: created once, never overwritten), the
// --compare tables printed after the run, and the progress line on stderr
// when stdout does not carry the table.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/options.h"
#include "cli/progress.h"
#include "case_table.h"
#include "result.h"
#include "scheduler.h"
#include "writers/outputs.h"
#include "writers/writer.h"

namespace aioh::cli {

class Outputs {
 public:
  // Creates the --output files (a usage error when one exists or cannot be
  // made) and picks the writers.
  explicit Outputs(const Options& o);
  // Without end() (a run that stopped on an error before any result), the
  // files this run created are removed: nothing is left behind, nothing lost.
  ~Outputs();
  Outputs(const Outputs&) = delete;
  Outputs& operator=(const Outputs&) = delete;

  void begin(const RunInfo& run, const Environment& env);
  void started(const CaseRun& c);
  // `index`: the result's place in the selection. jsonl streams it at once
  // (completion order); the other formats get it in catalog order.
  void result(const Result& r, size_t index);
  // Ends every writer, prints the --compare tables, closes the files.
  // Returns false when an output could not be written (each said on stderr
  // in one line; the run's exit status is then 2).
  bool end(const RunInfo& run, const Summary& summary);

 private:
  const Options& o_;
  bool color_ = false;
  bool wrote_ = false;
  bool table_on_stdout_ = true;
  bool machine_on_stdout_ = false;  // JSON, JUnit or KTAP: nothing else may go there
  OutputStreams streams_;
  bool want_progress_ = false;
  Progress::Style progress_style_;
  std::unique_ptr<Progress> progress_;
  size_t index_ = 0;  // the place in the selection of the result being written
  std::vector<Result> all_;  // kept for --compare only
};

}  // namespace aioh::cli
