// The fork server: one process, forked from the harness when a run's cases
// start, that forks every case's child on the scheduler's behalf. A fork
// write-protects every page of the process that forks, and each page that
// process writes afterwards is copied; the scheduler writes all the time
// (results, writers, the event loop), so forking from it costs a copy fault
// per page per case, and on a paravirtualised or shadow-paged machine each
// fault costs tens of microseconds. The server writes almost nothing between
// forks. It makes the case's plan again from the case's number (the plan is
// deterministic), creates its scratch dir and pipes, forks, and hands the
// pid and the pipes' read ends back over a socket (SCM_RIGHTS). It reaps a
// child only when the scheduler asks, after the scheduler has killed the
// child's group, so a pid is never reused while the scheduler may still
// signal it, and then says how it ended. It dies with the harness
// (PR_SET_PDEATHSIG); when it is gone the scheduler forks cases itself.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runner.h"

namespace aioh {

class Spawner {
 public:
  // Forks the server for `cases` with `slots` shared fault-state slots (at
  // most that many cases with a fault in flight). nullptr when it cannot.
  static std::unique_ptr<Spawner> start(Runner& runner, const std::vector<CaseRun>& cases, int slots);
  ~Spawner();
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  // The child of case `index`, planned as `plan` (by plan_at with plan.seq):
  // false with *err when the server could not make it.
  bool spawn(size_t index, CasePlan& plan, CaseProcess& proc, std::string* err);
  // The child's group was killed: reap it and say how it ended (statuses()).
  void reap(pid_t pid);
  // Readable when a status arrived; statuses() takes them.
  int fd() const { return sock_; }
  std::vector<std::pair<pid_t, int>> statuses();
  // The server is gone (its socket closed): the scheduler forks from now on.
  bool dead() const { return sock_ < 0; }
  pid_t pid() const { return pid_; }
  // A case's fault-state slot back in the pool, once its record was read.
  void release(faults::FaultState* st);

 private:
  Spawner() = default;
  bool receive(bool wait);
  Runner* runner_ = nullptr;
  int sock_ = -1;
  pid_t pid_ = -1;
  void* pool_ = nullptr;
  int slots_ = 0;
  std::vector<int> free_;
  std::vector<std::pair<pid_t, int>> statuses_;
  struct Reply;
  std::unique_ptr<Reply> reply_;
};

}  // namespace aioh
