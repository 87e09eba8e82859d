// The scheduler: many cases in flight at once, each still in its own forked
// process group under its own watchdog, all watched by one event loop (poll
// over every running child's pipes and pidfd and /dev/kmsg, the nearest
// watchdog deadline as its timeout; no thread per case). Admission follows
// the resource classes (resources.h): an exclusive case runs alone, a serial
// key admits one case at a time, the AIO and io_uring budgets hold. With -j1
// the cases run one after another in catalog order, as they always did.
//
// The kernel log (kernel_log.h) is heard over every case's window; an event
// traced to a case's task fails that case, an outside one is reported as
// such, and one only the windows can place (a kernel thread, a taint change)
// fails the single case that was in flight, or, when several were, those
// cases are run again one at a time, alone, to find which one makes it.
//
// Results are handed on as they become final (completion order, for jsonl);
// OrderedResults re-sequences them into catalog order for the writers whose
// output is ordered (JSON document, table, JUnit, KTAP). --repeat N runs
// each case N times and reports a verdict that changed between repeats;
// --shard i/n takes a deterministic part of the ids, balanced by durations.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "case_table.h"
#include "result.h"
#include "runner.h"

namespace aioh {

// Cases in flight by default: enough to keep every CPU this process may use
// busy while most cases sleep in the kernel (io_destroy's RCU grace period,
// a delayed fault): 8 per CPU, at least 2, at most 64.
int default_jobs();

struct SchedulerOptions {
  int jobs = 1;                        // 0: default_jobs()
  int repeat = 1;                      // runs of each case (--repeat)
  std::map<std::string, double> expected_ms = {};  // id -> duration of the last run (--durations): long ones first
};

class Scheduler {
 public:
  Scheduler(Runner& runner, SchedulerOptions o);
  ~Scheduler();
  // on_result(result, index in `cases`) once per case, as each is final;
  // on_start (when given) as a case's child starts (several may be running;
  // a solo rerun that places a kernel-log event is not announced).
  void run(const std::vector<CaseRun>& cases, const std::function<void(const Result&, size_t)>& on_result,
           const std::function<void(const CaseRun&)>& on_start = {});
  // Kernel log events that were no case's, and ids whose verdict changed
  // between repeats, as lines for stderr.
  const std::vector<std::string>& outside_events() const { return outside_; }
  const std::vector<std::string>& flaky() const { return flaky_; }

 private:
  struct Impl;
  Runner& runner_;
  SchedulerOptions opts_;
  std::vector<std::string> outside_, flaky_;
};

// Catalog order out of completion order: add(index, r) passes r on once
// every index before it has been passed on; flush() passes on whatever is
// held (a stopped run), in order, over the gaps.
class OrderedResults {
 public:
  explicit OrderedResults(std::function<void(const Result&)> sink) : sink_(std::move(sink)) {}
  void add(size_t index, const Result& r);
  void flush();

 private:
  std::function<void(const Result&)> sink_;
  std::map<size_t, Result> held_;
  size_t next_ = 0;
};

// One result for the N repeats of a case: the first repeat's when all agree
// (a note says so), else the first whose verdict fails the run (or differs)
// with the reason "verdict changed between N repeats (pass×3, fail×2): ...".
Result merge_repeats(const std::vector<Result>& runs, bool* changed);

// --shard i/n: "i/n" parsed (1 <= i <= n), else nullopt and *error.
struct Shard {
  int index = 1, count = 1;
};
std::optional<Shard> parse_shard(const std::string& text, std::string* error);
// The ids of shard i of n: a deterministic partition of `ids`. Without
// durations, every n-th id from the i-th; with them, the longest first onto
// the least loaded shard (ties by position), unknown ids counting as the
// median. Returns the indices into `ids` that belong to the shard.
std::vector<size_t> shard_indices(const std::vector<std::string>& ids, Shard s,
                                  const std::map<std::string, double>& durations);
// id -> duration_ms from a result file (a JSON document or jsonl); throws
// std::runtime_error with what is wrong.
std::map<std::string, double> load_durations(const std::string& path);

}  // namespace aioh
