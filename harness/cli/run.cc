// The run itself, from the scratch directory to the exit status.
#include "cli/run.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "cli/outputs.h"
#include "faults/fault.h"
#include "journal.h"
#include "probe.h"
#include "runner.h"
#include "writers/writer.h"

namespace aioh::cli {
namespace {

std::string now_iso() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
  return buf;
}

// The user's directory (we create a private subdirectory in it), or a fresh
// temp dir; removed at the end. A run killed with SIGKILL leaves it to the
// next run's cleanup, through the journal.
class Scratch {
 public:
  explicit Scratch(const std::string& user_dir) {
    std::string base = user_dir.empty() ? (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") : user_dir;
    std::error_code ec;
    if (!std::filesystem::is_directory(base, ec)) usage_error(fmt::format("scratch directory {} does not exist", base));
    std::string tmpl = base + "/aioharness-XXXXXX";
    if (!mkdtemp(tmpl.data()))
      usage_error(fmt::format("cannot create a scratch dir in {}: {}", base, strerror(errno)));
    dir = tmpl;
    undo_ = Journal::run_journal().record(UndoKind::remove_tree, {dir});
  }
  ~Scratch() { remove(); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  // Removes the directory and marks its journal entry done.
  void remove() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (undo_ >= 0) Journal::run_journal().done(undo_);
    undo_ = -1;
  }

  std::string dir;

 private:
  long undo_ = -1;
};

// A policy profile applies to the harness itself, as a container runtime
// would, so the probe (and each case's child) meets it: seccomp profiles
// stay for the run; a sysctl profile holds only while the probe runs.
Environment probe(const Options& o, const std::string& scratch_dir) {
  Environment env;
  if (!o.policy.empty()) {
    if (auto err = faults::apply_policy(o.policy); !err.empty()) usage_error(err);
    bool seccomp_profile = o.policy == "docker" || o.policy == "podman" || o.policy == "android";
    if (!seccomp_profile) {
      if (auto err = faults::with_policy_sysctl(o.policy, [&] { env = probe_environment(scratch_dir); }); !err.empty())
        usage_error(err);
    } else {
      env = probe_environment(scratch_dir);
    }
    env.info["policy"] = o.policy;
  } else {
    env = probe_environment(scratch_dir);
  }
  env.info["fault_seed"] = std::to_string(o.fault_seed);  // reproduces the run's random faults
  return env;
}

RunInfo run_info(const Options& o, const Selection& sel) {
  RunInfo run;
  run.started = now_iso();
  run.argv = o.argv;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  run.host = host;
  run.planned = sel.runs.size();
  return run;
}

}  // namespace

int run(const Options& o, const Selection& sel) {
  Scratch scratch(o.scratch);
  Environment env = probe(o, scratch.dir);
  if (o.probe_only) {
    fmt::print("{}\n", environment_to_json(env).dump(2));
    return 0;
  }

  Outputs outputs(o);
  RunInfo run = run_info(o, sel);
  // The targets this run's cases use, created now and torn down right after
  // the run (a killed run leaves them to the journal).
  TargetSet targets(sel.targets);
  if (auto wanted = sel.used_targets(); !wanted.empty()) {
    std::vector<std::string> log;
    targets.create(wanted, scratch.dir, &log);
    for (auto& l : log) fmt::print(stderr, "{}\n", l);
    run.targets = targets.to_json();
  }
  outputs.begin(run, env);

  Summary summary;
  Runner runner(env, RunOptions{o.timeout, scratch.dir, !o.no_kmsg, &targets, o.fault_seed});
  install_stop_handlers();
  runner.run(sel.runs, [&](const Result& r) {
    summary.add(r);
    outputs.result(r);
  });
  for (auto& err : targets.teardown()) fmt::print(stderr, "target teardown: {}\n", err);
  scratch.remove();
  for (auto& line : Journal::run_journal().finish()) fmt::print(stderr, "restored at the end of the run: {}\n", line);
  run.finished = now_iso();
  outputs.end(run, summary);
  if (int sig = stop_signal()) {
    fmt::print(stderr, "harness: stopped by {} after {} of {} cases; set-up restored\n",
               sigabbrev_np(sig) ? std::string("SIG") + sigabbrev_np(sig) : std::to_string(sig), summary.total(),
               sel.runs.size());
    return 128 + sig;
  }
  return summary.exit_status();
}

}  // namespace aioh::cli
