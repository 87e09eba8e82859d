// Where a run's results go: the writers chosen by --format, --output and
// --compare, the result file (created once, never overwritten), and the
// --compare tables printed after the run.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/options.h"
#include "result.h"
#include "writers/writer.h"

namespace aioh::cli {

class Outputs {
 public:
  // Creates the --output file (a usage error when it exists or cannot be
  // made) and picks the writers.
  explicit Outputs(const Options& o);
  ~Outputs();
  Outputs(const Outputs&) = delete;
  Outputs& operator=(const Outputs&) = delete;

  void begin(const RunInfo& run, const Environment& env);
  void result(const Result& r);
  // Ends every writer, prints the --compare tables, closes the file.
  void end(const RunInfo& run, const Summary& summary);

 private:
  const Options& o_;
  bool color_ = false;
  FILE* file_ = nullptr;
  std::vector<std::unique_ptr<Writer>> writers_;
  std::vector<Result> all_;  // kept for --compare only
};

}  // namespace aioh::cli
