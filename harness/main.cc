// The `harness` command line: choose interfaces and cases, probe the machine,
// run every case in its own watched child, and stream the results.
// Exit 0: nothing failed; 1: a case failed, timed out, crashed or was broken;
// 2: bad usage or bad input (one line on stderr).
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backend.h"
#include "case_table.h"
#include "compare.h"
#include "faults/fault.h"
#include "journal.h"
#include "probe.h"
#include "runner.h"
#include "targets/alignment_table.h"
#include "targets/target.h"
#include "vocabulary.h"
#include "writers/writer.h"

namespace {

using namespace aioh;

[[noreturn]] void usage_error(const std::string& msg) {
  fmt::print(stderr, "harness: {}\n", msg);
  exit(2);
}

std::string now_iso() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
  return buf;
}

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

void print_environment(const Environment& env) {
  auto j = environment_to_json(env);
  fmt::print("{}\n", j.dump(2));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"aioharness: conformance and fault-injection harness for Linux asynchronous I/O\n"
               "(glibc POSIX AIO, kernel AIO syscalls, libaio, io_uring)"};
  app.set_version_flag("--version", std::string("aioharness ") + AIOH_VERSION);

  std::string interfaces = "all", format = "table", output, scratch, cases_dir = default_cases_dir(), ids_file;
  std::vector<std::string> filters;
  double timeout = 10;
  uint64_t fault_seed = 0;
  std::string policy;
  bool list = false, list_scenarios = false, vocabulary = false, probe_only = false, compare = false, no_kmsg = false, cleanup = false;
  std::string color = "auto";
  app.add_option("-i,--interface", interfaces, "posix-aio, kernel-aio, libaio, io_uring, a comma list, or all")
      ->capture_default_str();
  app.add_option("-f,--filter", filters, "glob on ids (area.case@interface); repeatable, any match selects");
  app.add_option("--ids", ids_file, "run exactly the ids listed in FILE (one per line)");
  app.add_flag("-l,--list", list, "list the expanded case ids and exit");
  app.add_flag("--list-scenarios", list_scenarios, "list the registered scenarios and exit");
  app.add_flag("--vocabulary", vocabulary, "print the verdicts, exit statuses, phases, channels, interfaces and fault layers as JSON and exit");
  app.add_option("--format", format, "table, json, jsonl, junit or ktap")->capture_default_str();
  app.add_option("-o,--output", output, "write the chosen format to FILE (stdout keeps the table); never overwrites");
  app.add_option("--scratch", scratch, "directory for scratch files (default: a fresh temp dir, removed after)");
  app.add_option("--timeout", timeout, "watchdog per case, in seconds")->capture_default_str();
  app.add_option("--fault-seed", fault_seed, "seed of the random fault triggers (random:P); the same seed, the same faults")
      ->capture_default_str();
  app.add_option("--policy", policy, "run under a host policy profile: " + faults::policy_names());
  app.add_option("--cases", cases_dir, "directory of case tables")->capture_default_str();
  std::string target_dir, device;
  bool destructive = false;
  app.add_option("--target", target_dir, "run the target cases (the O_DIRECT sweep) in this directory instead of the created targets");
  app.add_option("--device", device, "run the target cases on this block device (overwrites it; needs --destructive)");
  app.add_flag("--destructive", destructive, "allow --device to overwrite the device's contents");
  app.add_flag("--cleanup", cleanup, "undo what killed runs left behind (sysctls, loop devices, mounts) and exit");
  app.add_flag("--probe", probe_only, "print the probed environment as JSON and exit");
  app.add_flag("--compare", compare, "after the run, show each scenario side by side across interfaces");
  app.add_flag("--no-kernel-log", no_kmsg, "do not watch /dev/kmsg and taint around cases");
  app.add_option("--color", color, "auto, always or never")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    usage_error(e.what());
  }

  if (vocabulary) {
    fmt::print("{}\n", vocabulary_json().dump(2));
    return 0;
  }
  if (std::find(std::begin(kFormats), std::end(kFormats), format) == std::end(kFormats))
    usage_error(fmt::format("unknown format '{}' (table, json, jsonl, junit, ktap)", format));
  if (timeout <= 0) usage_error("--timeout must be positive");
  auto ifaces = parse_interfaces(interfaces);
  if (!device.empty() && !destructive)
    usage_error(fmt::format("--device {} overwrites the device's data; add --destructive to allow it", device));
  if (destructive && device.empty()) usage_error("--destructive applies only to --device");
  // Targets are fixed before expansion so ids can be listed without root.
  std::vector<Target> target_specs;
  if (!target_dir.empty()) target_specs.push_back(dir_target(target_dir));
  if (!device.empty()) target_specs.push_back(device_target(device));
  if (target_specs.empty()) target_specs = default_targets();

  // Undo what earlier runs that were killed left behind, before anything else.
  for (auto& line : Journal::recover()) fmt::print(stderr, "cleanup: {}\n", line);
  if (cleanup) return 0;

  if (list_scenarios) {
    for (auto& s : scenario_names()) fmt::print("{}\n", s);
    return 0;
  }

  std::vector<CaseRow> rows;
  try {
    rows = load_case_dir(cases_dir);
  } catch (const LoadError& e) {
    usage_error(e.what());
  }

  auto runs = expand(rows, ifaces, target_specs);
  if (!filters.empty())
    std::erase_if(runs, [&](const CaseRun& r) {
      for (auto& f : filters)
        if (fnmatch(f.c_str(), r.id.c_str(), 0) == 0) return false;
      return true;
    });
  if (!ids_file.empty()) {
    std::ifstream f(ids_file);
    if (!f) usage_error(fmt::format("cannot read --ids file {}", ids_file));
    std::set<std::string> wanted;
    std::string line;
    while (std::getline(f, line))
      if (!line.empty() && line[0] != '#') wanted.insert(line);
    std::set<std::string> known;
    for (auto& r : runs) known.insert(r.id);
    for (auto& w : wanted)
      if (!known.count(w)) usage_error(fmt::format("unknown case id '{}' in {}", w, ids_file));
    std::erase_if(runs, [&](const CaseRun& r) { return !wanted.count(r.id); });
  }
  if (runs.empty() && !probe_only) usage_error("no case matches the chosen interfaces and filters");

  if (list) {
    if (format == "json") {
      nlohmann::json arr = nlohmann::json::array();
      for (auto& r : runs) {
        arr.push_back({{"id", r.id}, {"case", r.row->case_id()}, {"area", r.row->area},
                       {"interface", r.interface}, {"scenario", r.row->scenario}, {"source", r.row->source}});
        // The VM orchestrator builds each guest's device faults from these.
        if (auto& f = r.row->fault)
          arr.back()["fault"] = {{"layer", f->layer}, {"target", f->target}, {"effect", f->effect}, {"trigger", f->trigger}};
      }
      fmt::print("{}\n", arr.dump(2));
    } else {
      for (auto& r : runs) fmt::print("{}\n", r.id);
    }
    return 0;
  }

  // Scratch: the user's directory (we create a private subdirectory in it),
  // or a fresh temp dir. Both are removed at the end.
  std::string base = scratch.empty() ? (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") : scratch;
  std::error_code ec;
  if (!std::filesystem::is_directory(base, ec)) usage_error(fmt::format("scratch directory {} does not exist", base));
  std::string tmpl = base + "/aioharness-XXXXXX";
  if (!mkdtemp(tmpl.data())) usage_error(fmt::format("cannot create a scratch dir in {}: {}", base, strerror(errno)));
  std::string scratch_dir = tmpl;
  // A run killed with SIGKILL leaves its scratch dir to the next run's cleanup.
  long scratch_undo = Journal::run_journal().record(UndoKind::remove_tree, {scratch_dir});
  struct ScratchGuard {
    std::string dir;
    ~ScratchGuard() {
      std::error_code e;
      std::filesystem::remove_all(dir, e);
    }
  } guard{scratch_dir};

  // A policy profile applies to the harness itself, as a container runtime
  // would, so the probe (and each case's child) meets it: seccomp profiles
  // stay for the run; a sysctl profile holds only while the probe runs.
  Environment env;
  if (!policy.empty()) {
    if (auto err = faults::apply_policy(policy); !err.empty()) usage_error(err);
    bool seccomp_profile = policy == "docker" || policy == "podman" || policy == "android";
    if (!seccomp_profile) {
      if (auto err = faults::with_policy_sysctl(policy, [&] { env = probe_environment(scratch_dir); }); !err.empty())
        usage_error(err);
    } else {
      env = probe_environment(scratch_dir);
    }
    env.info["policy"] = policy;
  } else {
    env = probe_environment(scratch_dir);
  }
  env.info["fault_seed"] = std::to_string(fault_seed);  // reproduces the run's random faults
  if (probe_only) {
    print_environment(env);
    return 0;
  }

  FILE* file_out = nullptr;
  if (!output.empty()) {
    int fd = open(output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
      usage_error(errno == EEXIST ? fmt::format("{} exists; a result is never overwritten", output)
                                  : fmt::format("cannot create {}: {}", output, strerror(errno)));
    file_out = fdopen(fd, "w");
  }
  bool use_color = color == "always" || (color == "auto" && isatty(STDOUT_FILENO));
  std::vector<std::unique_ptr<Writer>> writers;
  if (file_out) {
    writers.push_back(make_table_writer(stdout, use_color));
    writers.push_back(make_writer(format, file_out, false));
  } else if (compare) {
    writers.push_back(make_table_writer(stderr, use_color && isatty(STDERR_FILENO)));
    if (format != "table") writers.push_back(make_writer(format, stdout, false));
  } else {
    writers.push_back(make_writer(format, stdout, use_color));
  }

  RunInfo run;
  run.started = now_iso();
  run.argv.assign(argv, argv + argc);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  run.host = host;
  run.planned = runs.size();
  // The targets this run's cases use, created now and torn down right after
  // the run (a killed run leaves them to the journal).
  TargetSet targets(target_specs);
  {
    std::vector<std::string> wanted, log;
    for (auto& r : runs)
      if (auto t = run_target(r); !t.empty() && std::find(wanted.begin(), wanted.end(), t) == wanted.end())
        wanted.push_back(t);
    if (!wanted.empty()) targets.create(wanted, scratch_dir, &log);
    for (auto& l : log) fmt::print(stderr, "{}\n", l);
    if (!wanted.empty()) run.targets = targets.to_json();
  }
  for (auto& w : writers) w->begin(run, env);

  Summary summary;
  std::vector<Result> all;
  Runner runner(env, RunOptions{timeout, scratch_dir, !no_kmsg, &targets, fault_seed});
  install_stop_handlers();
  runner.run(runs, [&](const Result& r) {
    summary.add(r);
    for (auto& w : writers) w->result(r);
    if (compare) all.push_back(r);
  });
  for (auto& err : targets.teardown()) fmt::print(stderr, "target teardown: {}\n", err);
  std::filesystem::remove_all(scratch_dir, ec);
  Journal::run_journal().done(scratch_undo);
  for (auto& line : Journal::run_journal().finish()) fmt::print(stderr, "restored at the end of the run: {}\n", line);
  run.finished = now_iso();
  for (auto& w : writers) w->end(run, summary);
  if (compare) {
    std::vector<Result> plain;
    for (auto& r : all)
      if (!r.target) plain.push_back(r);
    if (!plain.empty()) print_comparison(stdout, plain, ifaces, use_color);
    print_alignment_tables(stdout, all, ifaces, use_color);
  }
  if (file_out) {
    fclose(file_out);
    fmt::print("results written to {}\n", output);
  }
  if (int sig = stop_signal()) {
    fmt::print(stderr, "harness: stopped by {} after {} of {} cases; set-up restored\n",
               sigabbrev_np(sig) ? std::string("SIG") + sigabbrev_np(sig) : std::to_string(sig), summary.total(),
               runs.size());
    return 128 + sig;
  }
  return summary.exit_status();
}
