// The flags of `harness`: their definition, parsing and validation. Only this
// file knows CLI11; the rest of the command line reads the Options struct.
#include "cli/options.h"

#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "backend.h"
#include "faults/fault.h"
#include "writers/writer.h"

namespace aioh::cli {

void usage_error(const std::string& msg) {
  fmt::print(stderr, "harness: {}\n", msg);
  exit(2);
}

namespace {

// cases/ next to the source tree, or next to an installed binary.
std::string default_cases_dir() {
  if (const char* env = getenv("AIOH_CASES")) return env;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    auto dir = std::filesystem::path(self).parent_path();
    for (auto cand : {dir / "cases", dir.parent_path() / "cases", dir.parent_path() / "share/aioharness/cases"})
      if (std::filesystem::is_directory(cand)) return cand.string();
  }
  return std::string(AIOH_SOURCE_DIR) + "/cases";
}

std::vector<std::string> parse_interfaces(const std::string& spec) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string name = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (name == "all") {
      for (auto i : kInterfaces) out.emplace_back(i);
    } else if (std::find(std::begin(kInterfaces), std::end(kInterfaces), name) != std::end(kInterfaces)) {
      out.push_back(name);
    } else {
      usage_error(fmt::format("unknown interface '{}' (choose from posix-aio, kernel-aio, libaio, io_uring, all)", name));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::vector<std::string> uniq;
  for (auto& i : out)
    if (std::find(uniq.begin(), uniq.end(), i) == uniq.end()) uniq.push_back(i);
  return uniq;
}

void define(CLI::App& app, Options& o) {
  app.set_version_flag("--version", std::string("aioharness ") + AIOH_VERSION);
  app.add_option("-i,--interface", o.interfaces, "posix-aio, kernel-aio, libaio, io_uring, a comma list, or all")
      ->capture_default_str();
  app.add_option("-f,--filter", o.filters, "glob on ids (area.case@interface); repeatable, any match selects");
  app.add_option("--ids", o.ids_file, "run exactly the ids listed in FILE (one per line)");
  app.add_flag("-l,--list", o.list, "list the expanded case ids and exit");
  app.add_flag("--list-scenarios", o.list_scenarios, "list the registered scenarios and exit");
  app.add_flag("--vocabulary", o.vocabulary,
               "print the verdicts, exit statuses, phases, channels, interfaces and fault layers as JSON and exit");
  app.add_option("--format", o.format, "table, json, jsonl, junit or ktap")->capture_default_str();
  app.add_option("-o,--output", o.output, "write the chosen format to FILE (stdout keeps the table); never overwrites");
  app.add_option("--scratch", o.scratch, "directory for scratch files (default: a fresh temp dir, removed after)");
  app.add_option("--timeout", o.timeout, "watchdog per case, in seconds")->capture_default_str();
  app.add_option("--fault-seed", o.fault_seed,
                 "seed of the random fault triggers (random:P); the same seed, the same faults")
      ->capture_default_str();
  app.add_option("--policy", o.policy, "run under a host policy profile: " + faults::policy_names());
  app.add_option("--cases", o.cases_dir, "directory of case tables")->capture_default_str();
  app.add_option("--target", o.target_dir,
                 "run the target cases (the O_DIRECT sweep) in this directory instead of the created targets");
  app.add_option("--device", o.device, "run the target cases on this block device (overwrites it; needs --destructive)");
  app.add_flag("--destructive", o.destructive, "allow --device to overwrite the device's contents");
  app.add_flag("--cleanup", o.cleanup, "undo what killed runs left behind (sysctls, loop devices, mounts) and exit");
  app.add_flag("--probe", o.probe_only, "print the probed environment as JSON and exit");
  app.add_flag("--compare", o.compare, "after the run, show each scenario side by side across interfaces");
  app.add_flag("--no-kernel-log", o.no_kmsg, "do not watch /dev/kmsg and taint around cases");
  app.add_option("--color", o.color, "auto, always or never")->capture_default_str();
}

void validate(Options& o) {
  if (std::find(std::begin(kFormats), std::end(kFormats), o.format) == std::end(kFormats))
    usage_error(fmt::format("unknown format '{}' (table, json, jsonl, junit, ktap)", o.format));
  if (o.timeout <= 0) usage_error("--timeout must be positive");
  o.ifaces = parse_interfaces(o.interfaces);
  if (!o.device.empty() && !o.destructive)
    usage_error(fmt::format("--device {} overwrites the device's data; add --destructive to allow it", o.device));
  if (o.destructive && o.device.empty()) usage_error("--destructive applies only to --device");
}

}  // namespace

std::optional<int> parse_options(int argc, char** argv, Options& o) {
  CLI::App app{"aioharness: conformance and fault-injection harness for Linux asynchronous I/O\n"
               "(glibc POSIX AIO, kernel AIO syscalls, libaio, io_uring)"};
  o.cases_dir = default_cases_dir();
  define(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    usage_error(e.what());
  }
  o.argv.assign(argv, argv + argc);
  // --vocabulary needs nothing else and ignores the other flags.
  if (!o.vocabulary) validate(o);
  return std::nullopt;
}

}  // namespace aioh::cli
