// Where a run's results go: the writers chosen by --format, --output and
// --compare, the result file (created once, never overwritten), the
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
#include "writers/writer.h"

namespace aioh::cli {

class Outputs {
 public:
  // Creates the --output file (a usage error when it exists or cannot be
  // made) and picks the writers.
  explicit Outputs(const Options& o);
  // Without end() (a run that stopped on an error before any result), the
  // file this run created is removed: nothing is left behind, nothing lost.
  ~Outputs();
  Outputs(const Outputs&) = delete;
  Outputs& operator=(const Outputs&) = delete;

  void begin(const RunInfo& run, const Environment& env);
  void started(const CaseRun& c);
  void result(const Result& r);
  // Ends every writer, prints the --compare tables, closes the file.
  void end(const RunInfo& run, const Summary& summary);

 private:
  const Options& o_;
  bool color_ = false;
  FILE* file_ = nullptr;
  bool wrote_ = false;
  bool table_on_stdout_ = true;
  std::vector<std::unique_ptr<Writer>> writers_;
  bool want_progress_ = false;
  Progress::Style progress_style_;
  std::unique_ptr<Progress> progress_;
  std::vector<Result> all_;  // kept for --compare only
};

}  // namespace aioh::cli
