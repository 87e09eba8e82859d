// The flags of `harness`: their definition, parsing and validation. Only this
// file knows CLI11; the rest of the command line reads the Options struct.
// Validation covers what can be checked without side effects: numbers are
// finite and in range, names are known, the paths a run will use exist and
// are of the right kind, a result file does not exist yet.
#include "cli/options.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "backend.h"
#include "errno_names.h"
#include "faults/fault.h"
#include "scheduler.h"
#include "version.h"
#include "vocabulary.h"
#include "writers/writer.h"

namespace aioh::cli {

void usage_error(const std::string& msg) { throw UsageError(msg); }

namespace {

constexpr double kMaxTimeout = 3600;  // seconds; a case that needs longer is a hang

// cases/ next to the source tree, or next to an installed binary
// (PREFIX/bin/harness finds PREFIX/share/aioharness/cases).
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

std::string join(const auto& names) {
  std::string out;
  for (auto& n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

std::vector<std::string> parse_interfaces(const std::string& spec) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string name = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (name == "all") {
      for (auto& i : interface_names()) out.push_back(i);
    } else if (is_interface(name)) {
      out.push_back(name);
    } else {
      usage_error(fmt::format("unknown interface '{}' (choose from {}, all)", name, join(interface_names())));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::vector<std::string> uniq;
  for (auto& i : out)
    if (std::find(uniq.begin(), uniq.end(), i) == uniq.end()) uniq.push_back(i);
  return uniq;
}

std::vector<std::string> policy_list() {
  std::vector<std::string> out;
  std::string all = faults::policy_names();
  for (size_t at = 0; at < all.size();) {
    size_t comma = all.find(", ", at);
    out.push_back(all.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    at = comma == std::string::npos ? all.size() : comma + 2;
  }
  return out;
}

// The errno of stat(path), 0 when it exists; `st` filled.
int stat_errno(const std::string& path, struct stat& st) { return stat(path.c_str(), &st) == 0 ? 0 : errno; }

std::string errno_text(int e) { return fmt::format("{} ({})", errno_name(e), strerror(e)); }

// The exit statuses and the id rules, under the options in --help.
std::string help_footer() {
  std::string s =
      "Case ids are AREA.CASE@INTERFACE, with /TARGET for the O_DIRECT sweep's rows.\n"
      "--filter and --exclude take fnmatch(3) globs over the whole id (* matches / too); a glob\n"
      "also selects every target of an id it matches without the /TARGET: '*@io_uring' selects\n"
      "all io_uring ids, '*@io_uring/tmpfs' only those on tmpfs. -k WORD selects the ids that\n"
      "contain WORD. Filters and -k words add up (any match selects), then --exclude removes.\n"
      "A filter, word or exclude that matches no id is an error.\n\nExit status:\n";
  for (auto& e : kExitStatuses)
    s += fmt::format("  {:<6} {}\n", e.status == kExitSignalBase ? "128+N" : std::to_string(e.status), e.meaning);
  return s;
}

// What parsing leaves besides Options: the raw text of the options that
// are checked by hand.
struct Raw {
  std::string seed_text = "0";
  bool quiet = false, verbose = false;
  CLI::Option* output = nullptr;
  std::string jobs = "auto", repeat = "1", shard;  // the scheduler's
};

void define(CLI::App& app, Options& o, Raw& raw) {
  app.set_version_flag("--version", version_line());
  app.footer(help_footer());
  app.add_option("-i,--interface", o.interfaces, join(interface_names()) + ", a comma list, or all")
      ->capture_default_str();
  app.add_option("-f,--filter", o.filters, "select the ids this glob matches (see below); repeatable");
  app.add_option("-k", o.keywords, "select the ids that contain WORD; repeatable")->type_name("WORD");
  app.add_option("-x,--exclude", o.excludes, "leave out the ids this glob matches; repeatable");
  app.add_option("--ids", o.ids_file, "run exactly the ids listed in FILE (one per line, # comments)");
  app.add_flag("-l,--list", o.list, "list the selected case ids and exit (--format json: with their rows)");
  app.add_flag("--list-scenarios", o.list_scenarios,
               "list the scenarios with their declared parameters and exit (--format json for tools)");
  app.add_flag("--vocabulary", o.vocabulary,
               "print the verdicts, exit statuses, phases, channels, interfaces and fault layers as JSON and exit");
  app.add_option("--format", o.format, "what stdout carries: table, json, jsonl, junit or ktap")
      ->check(CLI::IsMember(std::vector<std::string>(std::begin(kFormats), std::end(kFormats))))
      ->capture_default_str();
  raw.output = app.add_option("-o,--output", o.output,
                 "write the results to FILE in FORMAT (json, jsonl, junit, ktap, table), stdout carrying --format; "
                 "repeatable: every format from one run; a FILE alone takes the --format, stdout keeping the table; "
                 "an existing file is never overwritten")
      ->type_name("[FORMAT:]FILE");
  app.add_option("--scratch", o.scratch, "directory for scratch files (default: a fresh temp dir, removed after)");
  app.add_option("--timeout", o.timeout, "watchdog per case, in seconds (at most 3600)")->capture_default_str();
  app.add_option("--fault-seed", raw.seed_text,
                 "seed of the random fault triggers (random:P), 0 to 2^64-1; the same seed, the same faults")
      ->default_str("0");
  app.add_option("--policy", o.policy, "run under a host policy profile: " + faults::policy_names());
  app.add_option("--cases", o.cases_dir,
                 "directory of case tables (default: $AIOH_CASES, else the tables installed with the binary, "
                 "PREFIX/share/aioharness/cases, or the source tree's cases/)");
  app.add_option("--target", o.target_dir,
                 "run the target cases (the O_DIRECT sweep) in this existing directory instead of the created targets");
  app.add_option("--device", o.device, "run the target cases on this block device (overwrites it; needs --destructive)");
  app.add_flag("--destructive", o.destructive, "allow --device to overwrite the device's contents");
  app.add_flag("--cleanup", o.cleanup, "undo what killed runs left behind (sysctls, loop devices, mounts) and exit");
  app.add_flag("--probe", o.probe_only, "print the probed environment as JSON and exit");
  app.add_flag("--compare", o.compare, "after the run, show each scenario side by side across interfaces");
  app.add_flag("--no-kernel-log", o.no_kmsg, "do not watch /dev/kmsg and taint around cases");
  app.add_option("--color", o.color, "auto (a terminal, unless NO_COLOR is set or TERM=dumb), always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  app.add_flag("-q,--quiet", raw.quiet, "no progress, no set-up notes; the table shows only what did not pass");
  app.add_flag("-v,--verbose", raw.verbose, "progress even when stdout is the table, and each case as it starts");
  app.add_option("-j,--jobs", raw.jobs,
                 "cases in flight at once: 1 to 1024, or auto (8 per CPU; -j1: one at a time, in table order)")
      ->type_name("N|auto")
      ->capture_default_str();
  app.add_option("--shard", raw.shard, "run part I of N of the selected ids (a deterministic partition), e.g. 2/4")
      ->type_name("I/N");
  app.add_option("--durations", o.durations_file,
                 "a result file (json or jsonl) whose durations balance --shard and start long cases first")
      ->type_name("FILE");
  app.add_option("--repeat", raw.repeat, "run every case N times; a verdict that changes between repeats is reported")
      ->type_name("N")
      ->capture_default_str();
}

int positive(const std::string& flag, const std::string& text, long max) {
  char* end = nullptr;
  errno = 0;
  long v = strtol(text.c_str(), &end, 10);
  if (text.empty() || *end || errno || v < 1 || v > max)
    usage_error(fmt::format("{} '{}': expected a whole number from 1 to {}", flag, text, max));
  return static_cast<int>(v);
}

// --jobs, --repeat, --shard and the --durations file.
void validate_scheduling(Options& o, const Raw& raw) {
  o.jobs = raw.jobs == "auto" ? 0 : positive("--jobs", raw.jobs, 1024);
  o.repeat = positive("--repeat", raw.repeat, 100000);
  if (!raw.shard.empty()) {
    std::string err;
    auto sh = parse_shard(raw.shard, &err);
    if (!sh) usage_error(err);
    o.shard_index = sh->index;
    o.shard_count = sh->count;
  }
  if (!o.durations_file.empty()) {
    try {
      o.durations = load_durations(o.durations_file);
    } catch (const std::exception& e) {
      usage_error(e.what());
    }
  }
}

void validate_numbers(Options& o, const std::string& seed_text) {
  if (!(std::isfinite(o.timeout) && o.timeout > 0 && o.timeout <= kMaxTimeout))
    usage_error(fmt::format("--timeout {}: must be a number of seconds in (0, {}]", o.timeout, kMaxTimeout));
  auto [p, ec] = std::from_chars(seed_text.data(), seed_text.data() + seed_text.size(), o.fault_seed);
  bool digits = !seed_text.empty() && std::all_of(seed_text.begin(), seed_text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || ec != std::errc() || p != seed_text.data() + seed_text.size())
    usage_error(fmt::format("--fault-seed '{}': must be an integer from 0 to 18446744073709551615", seed_text));
}

void validate_selection(const Options& o) {
  for (auto* list : {&o.filters, &o.keywords, &o.excludes})
    for (auto& f : *list)
      if (f.empty()) usage_error("an empty --filter, -k or --exclude selects nothing; leave it out");
}

// Each --output, FORMAT:PATH or PATH (writers/outputs.h); no file may exist
// yet and the directory of each must.
void validate_output(Options& o, bool given) {
  // CLI11 may read `--output ""` as no value at all.
  if (given && o.output.empty()) usage_error("--output needs a file name ([FORMAT:]FILE)");
  if (auto err = parse_output_specs(o.output, o.format, &o.output_specs); !err.empty()) usage_error(err);
  for (auto& spec : o.output_specs) {
    const std::string& path = spec.path;
    struct stat st {};
    if (int e = stat_errno(path, st); e == 0)
      usage_error(fmt::format("{} exists; a result is never overwritten", path));
    else if (e != ENOENT)
      usage_error(fmt::format("--output {}: {}", path, errno_text(e)));
    auto dir = std::filesystem::path(path).parent_path();
    std::string d = dir.empty() ? "." : dir.string();
    if (int e = stat_errno(d, st); e != 0) usage_error(fmt::format("--output {}: directory {}: {}", path, d, errno_text(e)));
    if (!S_ISDIR(st.st_mode)) usage_error(fmt::format("--output {}: {} is not a directory", path, d));
  }
}

void validate_paths(const Options& o) {
  struct stat st {};
  if (!o.scratch.empty()) {
    if (int e = stat_errno(o.scratch, st); e != 0) usage_error(fmt::format("--scratch {}: {}", o.scratch, errno_text(e)));
    if (!S_ISDIR(st.st_mode)) usage_error(fmt::format("--scratch {}: not a directory", o.scratch));
  }
  if (!o.target_dir.empty()) {
    if (int e = stat_errno(o.target_dir, st); e != 0)
      usage_error(fmt::format("--target {}: {}", o.target_dir, errno_text(e)));
    if (!S_ISDIR(st.st_mode)) usage_error(fmt::format("--target {}: not a directory", o.target_dir));
  }
  if (!o.device.empty()) {
    if (!o.destructive)
      usage_error(fmt::format("--device {} overwrites the device's data; add --destructive to allow it", o.device));
    if (int e = stat_errno(o.device, st); e != 0) usage_error(fmt::format("--device {}: {}", o.device, errno_text(e)));
    if (!S_ISBLK(st.st_mode)) usage_error(fmt::format("--device {}: not a block device", o.device));
  }
  if (o.destructive && o.device.empty()) usage_error("--destructive applies only to --device");
}

void validate(Options& o, const Raw& raw) {
  validate_numbers(o, raw.seed_text);
  validate_scheduling(o, raw);
  if (raw.quiet && raw.verbose) usage_error("-q and -v contradict each other");
  o.verbosity = raw.quiet ? -1 : raw.verbose ? 1 : 0;
  o.ifaces = parse_interfaces(o.interfaces);
  if (!o.policy.empty()) {
    auto known = policy_list();
    if (std::find(known.begin(), known.end(), o.policy) == known.end())
      usage_error(fmt::format("unknown --policy '{}' (choose from {})", o.policy, faults::policy_names()));
  }
  validate_selection(o);
  validate_output(o, raw.output->count() > 0);
  validate_paths(o);
}

}  // namespace

std::optional<int> parse_options(int argc, char** argv, Options& o) {
  CLI::App app{"aioharness: conformance and fault-injection harness for Linux asynchronous I/O\n"
               "(glibc POSIX AIO, kernel AIO syscalls, libaio, io_uring)"};
  o.cases_dir = default_cases_dir();
  Raw raw;
  define(app, o, raw);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's messages can span lines; the usage error is one.
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    usage_error(msg);
  }
  o.argv.assign(argv, argv + argc);
  // --vocabulary needs nothing else and ignores the other flags.
  if (!o.vocabulary) validate(o, raw);
  return std::nullopt;
}

}  // namespace aioh::cli
