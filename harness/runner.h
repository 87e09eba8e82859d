// The runner: every case in a forked child in its own process group, under a
// watchdog. A case goes through four steps, each its own function: plan (the
// skips the probe decides, the expectation, the scratch dir), spawn (pipes,
// fork, the child's set-up), watch (the child's JSON lines read as they come,
// the deadline: CaseProcess) and classify (how the child ended plus what it
// said: one verdict). A hang or a crash is a verdict; the run goes on. The
// scheduler (scheduler.h) drives many cases through these steps in one event
// loop; run() and run_one() go through it too, so there is one path.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "case_table.h"
#include "probe.h"
#include "result.h"
#include "targets/target.h"

namespace aioh {

struct RunOptions {
  double timeout_s = 10;
  std::string scratch_dir;   // each case gets a fresh subdirectory
  bool kernel_log = true;    // watch /dev/kmsg and taint around each case
  const TargetSet* targets = nullptr;  // where cases with a target run
  uint64_t fault_seed = 0;   // --fault-seed: random fault triggers derive from it
  int jobs = 1;              // cases in flight at once; 0: automatic (scheduler.h default_jobs())
  // The kernel log oracle's sources; tests substitute a pipe and a file.
  std::string kmsg_path = "/dev/kmsg";
  std::string taint_path = "/proc/sys/kernel/tainted";
};

// SIGINT/SIGTERM/SIGHUP/SIGPIPE stop the run between cases, so everything the
// run set up is torn down on the normal path; stop_signal() says which arrived
// (system/signals.h; main installs them first thing).
void install_stop_handlers();
int stop_signal();

// Called by a process that forks cases once its signal dispositions are
// final (the fork server): its children then reset only the signals it
// does not leave at SIG_DFL, read once, instead of reading them per fork.
void remember_dispositions();

// Everything the child said, parsed from its JSON lines.
struct ChildReport {
  std::vector<ObservedStep> seen;
  std::vector<Observation> observations;
  std::vector<std::string> failures, conventions, notes;
  std::string exit_kind, exit_reason;
  bool done = false;
  void absorb(const std::string& line);
};

// A case's child while it runs, and what the parent has read from it. The
// case ends when both of its pipes are at their end (the child and anything
// it forked are gone) or at the deadline; then its group is killed and the
// child reaped when its pidfd says it exited, so a slow exit (in-flight AIO)
// never blocks the parent.
struct CaseProcess {
  pid_t pid = -1;
  int pidfd = -1, out_fd = -1, err_fd = -1;
  std::chrono::steady_clock::time_point t0, deadline;
  ChildReport report;
  std::string pending, err_tail;
  bool timed_out = false, killed = false, reaped = false;
  int status = 0;

  CaseProcess() = default;
  CaseProcess(const CaseProcess&) = delete;
  CaseProcess& operator=(const CaseProcess&) = delete;
  ~CaseProcess();

  void read_out();  // what the pipe holds now; closes it at its end
  void read_err();
  bool streams_open() const { return out_fd >= 0 || err_fd >= 0; }
  void kill_group();  // SIGKILL to the whole group, once
  bool try_reap();    // true once the child is reaped (status holds how it ended)
  void reap_blocking();
};

// A case between plan and result.
struct CasePlan {
  const CaseRun* run = nullptr;
  Result res;
  bool final = false;                      // res is the verdict already (a skip, a set-up failure)
  const Environment* target_env = nullptr; // the target's facts over the environment (Runner's, shared)
  std::map<std::string, Param> params;
  const Expectation* exp = nullptr;
  std::string dir;                         // the case's scratch dir
  std::string comm;                        // the child's name (kernel_log.h case_comm)
  double limit_s = 0;
  faults::FaultState* fault_state = nullptr;
  bool fault_state_pooled = false;         // the spawner's shared slot, not the plan's to free
  uint64_t fault_seed = 0;
  unsigned seq = 0;
};

// The verdict from how the child ended, what it said and what had to be
// restored after it (restored: "kind args: ok|error").
void classify(Result& res, const Expectation* exp, const CaseProcess& proc, double limit_s,
              const std::vector<std::string>& restored);
// Then, once the kernel log has been heard: a splat fails the case
// ("kernel-log: WHY"), and last the row's known defect turns a fail into
// xfail and a pass into xpass.
void apply_kernel_log(Result& res, const std::string& why);
void apply_xfail(Result& res, const CaseRow& row);

class Runner {
 public:
  Runner(const Environment& env, RunOptions opts);
  const RunOptions& options() const { return opts_; }
  const Environment& env() const { return env_; }
  // An identity for this run's kernel-log marks and children's names.
  const std::string& run_tag() const { return run_tag_; }

  CasePlan plan(const CaseRun& c);
  // The same plan for a given case number.
  CasePlan plan_at(const CaseRun& c, unsigned seq) const;
  // What a case's child needs of its plan (params, environment, dir, name),
  // made again in the child from the case number: none of the Result, so
  // the child writes (and copies on write) as few pages as it can.
  CasePlan child_plan(const CaseRun& c, unsigned seq) const;
  // Every target's environment made once, before the fork server forks:
  // a child then reads it (shared pages) instead of copying ~200 map nodes
  // into pages it must first copy (about a third of a dio case's page
  // faults, at ~15 us each on this paravirtualised host).
  void prepare_targets();
  // Forks the case's child; false when it could not (p.res is then final).
  bool spawn(CasePlan& p, CaseProcess& proc);
  // The fork itself: the case's pipes and its child, which makes the plan
  // for `seq` again, creates its scratch dir and runs the scenario (`st`:
  // its fault's shared readback, or null); the child keeps only stdio, its
  // result pipe and the journal (system::close_inherited_fds). Returns the
  // pid and the read ends, or -1 and *err.
  pid_t fork_case(const CaseRun& c, unsigned seq, faults::FaultState* st, int* out_r, int* err_r,
                  std::string* err) const;
  // Starts watching a forked child: its pipes, its pidfd, its deadline from proc.t0.
  void watch(const CasePlan& p, CaseProcess& proc, pid_t pid, int out_r, int err_r, bool pidfd);
  // After the child is reaped: scratch removed, leftovers undone, the fault
  // read back, the verdict (the kernel log and the xfail are the scheduler's
  // to add, apply_kernel_log and apply_xfail).
  Result finish(CasePlan& p, CaseProcess& proc);

  Result run_one(const CaseRun& c);
  // on_start (when given) is told each case as it begins, before its result;
  // several may be running at once (the progress line shows them).
  void run(const std::vector<CaseRun>& cases, const std::function<void(const Result&)>& on_result,
           const std::function<void(const CaseRun&)>& on_start = {});

 private:
  const Environment& env_;
  RunOptions opts_;
  std::string run_tag_;
  unsigned seq_ = 0;
  // The environment each target's cases see, by target name (prepare_targets).
  mutable std::map<std::string, Environment> overlays_;
  const Environment& overlay_for(const Target& t) const;
  std::string case_dir(const Target* tgt, unsigned seq) const;
};

}  // namespace aioh
