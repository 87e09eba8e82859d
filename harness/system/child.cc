// Case children die with the harness, and the fork-and-read helper (see child.h).
#include "system/child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace aioh::system {

void harden_case_child(pid_t parent) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(125);
}

namespace {

// close_range(first, last) where the kernel has it, else one close() each.
void close_span(unsigned first, unsigned last) {
  if (first > last) return;
  if (syscall(SYS_close_range, first, last, 0) == 0) return;
  rlimit rl{};
  unsigned top = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                     ? static_cast<unsigned>(std::min<rlim_t>(rl.rlim_cur, 1 << 20)) : 1u << 16;
  for (unsigned fd = first; fd <= std::min(last, top); fd++) close(static_cast<int>(fd));
}

}  // namespace

void close_inherited_fds(std::vector<int> keep) {
  std::erase_if(keep, [](int fd) { return fd < 0; });
  std::sort(keep.begin(), keep.end());
  unsigned next = 0;  // the lowest fd not yet kept or closed
  for (int fd : keep) {
    if (static_cast<unsigned>(fd) > next) close_span(next, static_cast<unsigned>(fd) - 1);
    next = std::max(next, static_cast<unsigned>(fd) + 1);
  }
  close_span(next, ~0U);
}

ChildOutput run_in_child(const std::function<std::string()>& fn, int deadline_ms) {
  ChildOutput r;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    r.error = "pipe2 failed";
    return r;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    std::string out = fn();
    (void)!write(p[1], out.data(), out.size());
    _exit(0);
  }
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    r.error = "fork failed";
    return r;
  }
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  for (;;) {
    int wait_ms = -1;
    if (deadline_ms > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
      if (left <= 0) {
        r.timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(left);
    }
    pollfd pfd{p[0], POLLIN, 0};
    int n = poll(&pfd, 1, wait_ms);
    if (n <= 0) continue;  // EINTR, or the deadline (checked above)
    char tmp[4096];
    ssize_t k = read(p[0], tmp, sizeof tmp);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    r.out.append(tmp, static_cast<size_t>(k));
  }
  close(p[0]);
  if (r.timed_out) kill(pid, SIGKILL);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(st) && !r.timed_out) r.signal = WTERMSIG(st);
  return r;
}

}  // namespace aioh::system
