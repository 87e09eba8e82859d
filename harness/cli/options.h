// The command line's one definition: every flag, its parsing (CLI11) and its
// validation, into a plain Options struct the rest of the CLI reads. A new
// flag is a field here and a line in options.cc, nothing else. Everything a
// user can get wrong on the command line is found here, before any scratch
// directory, probe, journal entry or target exists.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "writers/outputs.h"

namespace aioh::cli {

struct Options {
  // What to run.
  std::string interfaces = "all";
  std::vector<std::string> ifaces;  // `interfaces` parsed: unique, in order of mention
  std::vector<std::string> filters;   // --filter GLOB (any selects)
  std::vector<std::string> keywords;  // -k WORD (any selects, like a filter)
  std::vector<std::string> excludes;  // --exclude GLOB (any removes)
  std::string ids_file;
  std::string cases_dir;
  // Where and how.
  std::string scratch;
  std::string target_dir, device;
  bool destructive = false;
  double timeout = 10;
  uint64_t fault_seed = 0;
  std::string policy;
  bool no_kmsg = false;
  // How many at once, which part, how often (scheduler.h).
  int jobs = 0;                                // 0: automatic (default_jobs())
  int repeat = 1;
  int shard_index = 0, shard_count = 0;        // 0: no --shard
  std::string durations_file;
  std::map<std::string, double> durations;     // --durations, loaded
  // What to show.
  std::string format = "table";
  std::vector<std::string> output;       // each --output as given
  std::vector<OutputSpec> output_specs;  // parsed: FORMAT:PATH, or PATH in the --format
  std::string color = "auto";
  int verbosity = 0;  // -1 with -q, 1 with -v
  bool compare = false;
  // Commands that do something else than a run, then exit.
  bool list = false, list_scenarios = false, vocabulary = false, probe_only = false, cleanup = false;

  std::vector<std::string> argv;
};

// A usage or input error: one line on stderr and exit status 2. Thrown (not
// exit()ed) so whatever was already set up is released on the way out.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] void usage_error(const std::string& msg);

// Parses and validates the command line into `out`. Returns the exit status
// when the command is already complete (--help, --version); throws
// UsageError on bad usage.
std::optional<int> parse_options(int argc, char** argv, Options& out);

}  // namespace aioh::cli
