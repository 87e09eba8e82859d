// The command line's one definition: every flag, its parsing (CLI11) and its
// validation, into a plain Options struct the rest of the CLI reads. A new
// flag is a field here and a line in options.cc, nothing else.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aioh::cli {

struct Options {
  // What to run.
  std::string interfaces = "all";
  std::vector<std::string> ifaces;  // `interfaces` parsed: unique, in kInterfaces order of mention
  std::vector<std::string> filters;
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
  // What to show.
  std::string format = "table";
  std::string output;
  std::string color = "auto";
  bool compare = false;
  // Commands that do something else than a run, then exit.
  bool list = false, list_scenarios = false, vocabulary = false, probe_only = false, cleanup = false;

  std::vector<std::string> argv;
};

// Parses and validates the command line into `out`. Returns the exit status
// when the command is already complete (--help, --version); a usage error
// is one line on stderr and exit 2.
std::optional<int> parse_options(int argc, char** argv, Options& out);

// One line on stderr, exit 2.
[[noreturn]] void usage_error(const std::string& msg);

}  // namespace aioh::cli
