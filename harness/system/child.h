// A case's child must not outlive the harness: a child left running with
// parent 1 keeps the AIO contexts, io_uring rings, mounts or sysctls it
// holds until someone notices. PR_SET_PDEATHSIG(SIGKILL) makes the kernel
// kill it when the harness dies; the parent may already have died between
// fork() and prctl(), so the child then checks that its parent is still the
// one that forked it. Note: the death signal fires when the forking THREAD
// exits, so a child must be forked by a thread that outlives it.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace aioh::system {

// In the child, right after fork(): `parent` is the forking process's pid,
// read before fork(). Exits the child (status 125) when the parent is gone.
void harden_case_child(pid_t parent);

// In a case's child, right after fork(): closes every fd the forking
// process had except `keep` (stdio, the result pipe, what the harness's own
// machinery in the child still uses), so a case can reach no output file,
// target device hold, lock or socket of the harness. close_range(2) (Linux
// 5.9) closes the gaps; before it, each fd below RLIMIT_NOFILE's soft limit.
void close_inherited_fds(std::vector<int> keep);

// The one fork-and-read helper (the probes' round trips): runs fn in a forked
// child, which writes fn's text to a pipe and exits; the parent reads it all.
// A child still running after deadline_ms (<= 0: no deadline) is killed, so
// a probe that blocks cannot hold up the run.
struct ChildOutput {
  std::string out;         // what fn returned
  int signal = 0;          // the signal that ended the child (SIGSYS from seccomp, a crash)
  bool timed_out = false;  // killed at the deadline
  std::string error;       // pipe2 or fork failed: nothing ran
};
ChildOutput run_in_child(const std::function<std::string()>& fn, int deadline_ms);

}  // namespace aioh::system
