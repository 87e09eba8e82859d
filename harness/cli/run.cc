// The run itself, from the scratch directory to the exit status.
#include "cli/run.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "cli/outputs.h"
#include "errno_names.h"
#include "faults/fault.h"
#include "system/journal.h"
#include "probe.h"
#include "runner.h"
#include "scheduler.h"
#include "system/settings.h"
#include "system/signals.h"
#include "system/trusted_path.h"
#include "vocabulary.h"
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
// temp dir, declared in the journal as the run's scratch root. On every way
// out of the run — a return, an exception (a usage error is one), exit(), a
// stop signal — it is removed and the journal finished (what is still open in it
// undone). A run killed with SIGKILL leaves both to the next run's recovery.
class Scratch {
 public:
  explicit Scratch(const std::string& user_dir) {
    const char* tmp = getenv("TMPDIR");
    std::string base = user_dir.empty() ? (tmp && *tmp ? tmp : "/tmp") : user_dir;
    std::error_code ec;
    if (!std::filesystem::is_directory(base, ec)) usage_error(fmt::format("scratch directory {} does not exist", base));
    std::string tmpl = base + "/aioharness-XXXXXX";
    if (!mkdtemp(tmpl.data()))
      usage_error(fmt::format("cannot create a scratch dir in {}: {}", base, errno_name(errno)));
    dir = tmpl;
    undo_ = Journal::run_journal().add_scratch_root(dir);
    live_ = this;
    owner_ = getpid();
    std::atexit([] {
      if (live_) live_->finish();
    });
  }
  ~Scratch() { finish(); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  void finish() {
    if (live_ != this || getpid() != owner_) return;  // never from a forked child
    live_ = nullptr;
    if (system::remove_tree_below(dir, dir).empty()) Journal::run_journal().done(undo_);
    // fputs, not fmt::print (which throws): stderr may be a closed pipe.
    for (auto& line : Journal::run_journal().finish()) fputs(("restored at the end of the run: " + line + "\n").c_str(), stderr);
  }

  std::string dir;

 private:
  long undo_ = -1;
  pid_t owner_ = 0;
  static inline Scratch* live_ = nullptr;
};

// The probe reads fs.aio-max-nr and kernel.io_uring_disabled and sets up
// contexts and rings: not while another run has one of them changed.
Environment probe_unchanged(const std::string& scratch_dir) {
  system::SettingsInUse in_use;
  if (auto err = in_use.hold(system::settings_lock_wait(), "the probe"); !err.empty()) usage_error(err);
  return probe_environment(scratch_dir);
}

// A policy profile applies to the harness itself, as a container runtime
// would, so the probe (and each case's child) meets it: seccomp profiles
// stay for the run; a sysctl profile holds only while the probe runs.
Environment probe(const Options& o, const std::string& scratch_dir) {
  Environment env;
  if (!o.policy.empty()) {
    if (auto err = faults::apply_policy(o.policy); !err.empty()) usage_error(err);
    if (!faults::policy_lasts_run(o.policy)) {
      if (auto err = faults::with_policy_sysctl(o.policy, [&] { env = probe_environment(scratch_dir); }); !err.empty())
        usage_error(err);
    } else {
      env = probe_unchanged(scratch_dir);
    }
    env.info["policy"] = o.policy;
  } else {
    env = probe_unchanged(scratch_dir);
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

int run(const Options& o, const Selection& sel) try {
  // The result file first: the last usage error a run can meet (it may have
  // appeared since the options were checked) comes before any set-up.
  std::unique_ptr<Outputs> outputs;
  if (!o.probe_only) outputs = std::make_unique<Outputs>(o);
  Scratch scratch(o.scratch);
  Environment env = probe(o, scratch.dir);
  if (int sig = stop_signal()) {
    scratch.finish();
    fputs(fmt::format("harness: stopped by {} during the probe; set-up restored\n", system::signal_name(sig)).c_str(), stderr);
    return kExitSignalBase + sig;
  }
  if (o.probe_only) {
    fmt::print("{}\n", json_dump(environment_to_json(env), 2));
    return kExitOk;
  }

  RunInfo run = run_info(o, sel);
  // The targets this run's cases use, created now and torn down right after
  // the run (a killed run leaves them to the journal).
  TargetSet targets(sel.targets);
  if (auto wanted = sel.used_targets(); !wanted.empty()) {
    std::vector<std::string> log;
    targets.create(wanted, scratch.dir, &log);
    if (o.verbosity >= 0)
      for (auto& l : log) fmt::print(stderr, "{}\n", l);
    run.targets = targets.to_json();
    // A device the user named and we refused is bad input, not a run of the
    // other cases that would end "OK" (issue 19.10).
    if (auto why = targets.user_device_refusal(); !why.empty()) usage_error(why);
  }
  outputs->begin(run, env);

  Summary summary;
  Runner runner(env, RunOptions{o.timeout, scratch.dir, !o.no_kmsg, &targets, o.fault_seed, o.jobs});
  // A stop signal during target creation: no case runs, the output is still finalised.
  Scheduler scheduler(runner, SchedulerOptions{o.jobs, o.repeat, o.durations});
  scheduler.run(
      sel.runs,
      [&](const Result& r, size_t index) {
        summary.add(r);
        outputs->result(r, index);
      },
      [&](const CaseRun& c) { outputs->started(c); });
  for (auto& f : scheduler.flaky()) fputs(("harness: flaky: " + f + "\n").c_str(), stderr);
  for (auto& err : targets.teardown()) fmt::print(stderr, "target teardown: {}\n", err);
  scratch.finish();
  run.finished = now_iso();
  const bool written = outputs->end(run, summary);
  if (int sig = stop_signal()) {
    fmt::print(stderr, "harness: stopped by {} after {} of {} cases; set-up restored\n", system::signal_name(sig),
               summary.total(), sel.runs.size());
    return kExitSignalBase + sig;
  }
  if (!written) return kExitUsage;
  return summary.exit_status();
} catch (const std::exception& e) {
  // A write to a closed pipe (SIGPIPE) or another error: the unwinding has
  // already torn down the targets and the scratch and finished the journal.
  int sig = stop_signal();
  fputs(fmt::format("harness: {}{}\n", sig ? "stopped by " + system::signal_name(sig) + ": " : "", e.what()).c_str(), stderr);
  return sig ? kExitSignalBase + sig : kExitUsage;
}

}  // namespace aioh::cli
