// The runner: every case in a forked child in its own process group, under a
// watchdog. The parent reads the child's JSON lines as they come, classifies
// how the child ended (exit, signal, timeout) and turns that plus the
// observations into one verdict. A hang or a crash is a verdict; the run goes on.
#pragma once

#include <cstdint>
#include <functional>
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
};

// SIGINT/SIGTERM/SIGHUP/SIGPIPE stop the run between cases, so everything the
// run set up is torn down on the normal path; stop_signal() says which arrived
// (system/signals.h; main installs them first thing).
void install_stop_handlers();
int stop_signal();

class Runner {
 public:
  Runner(const Environment& env, RunOptions opts) : env_(env), opts_(std::move(opts)) {}
  Result run_one(const CaseRun& c);
  // on_start (when given) is told each case as it begins, before its result;
  // several may be running at once (the progress line shows them).
  void run(const std::vector<CaseRun>& cases, const std::function<void(const Result&)>& on_result,
           const std::function<void(const CaseRun&)>& on_start = {});

 private:
  const Environment& env_;
  RunOptions opts_;
  unsigned seq_ = 0;
};

}  // namespace aioh
