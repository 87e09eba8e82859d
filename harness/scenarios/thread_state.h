// Which system call a thread of this process is blocked in, read from
// /proc/self/task/<tid>/syscall (the first field is the call's number while
// the thread sleeps in it, "running" otherwise). Scenarios that must act
// while another thread waits inside a call (interrupt it, destroy what it
// waits on) poll this instead of sleeping and hoping the thread got there.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <string>

namespace aioh::threads {

// The number of the call thread `tid` sleeps in, or -1 (running, gone, or
// unreadable).
inline long blocked_syscall(pid_t tid) {
  char path[64], buf[128];
  snprintf(path, sizeof path, "/proc/self/task/%d/syscall", static_cast<int>(tid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0 || buf[0] < '0' || buf[0] > '9') return -1;
  buf[n] = 0;
  return atol(buf);
}

// The scheduler state letter ('S' asleep, 'R' running, ...) of a thread of
// this process whose name starts with `prefix` (the kernel's iou-sqp-/iou-wrk-
// threads), 'S' if any such thread sleeps, or 0 when there is none.
inline char named_thread_state(const std::string& prefix) {
  char state = 0;
  DIR* d = opendir("/proc/self/task");
  if (!d) return 0;
  while (dirent* e = readdir(d)) {
    std::string base = std::string("/proc/self/task/") + e->d_name;
    std::ifstream comm(base + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind(prefix, 0) != 0) continue;
    std::ifstream stat(base + "/stat");
    std::string line;
    std::getline(stat, line);
    auto close_paren = line.rfind(')');
    if (close_paren == std::string::npos || close_paren + 2 >= line.size()) continue;
    if (state != 'S') state = line[close_paren + 2];
  }
  closedir(d);
  return state;
}

}  // namespace aioh::threads
