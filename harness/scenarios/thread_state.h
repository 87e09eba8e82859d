// Which system call a thread of this process is blocked in, read from
// /proc/self/task/<tid>/syscall (the first field is the call's number while
// the thread sleeps in it, "running" otherwise). Scenarios that must act
// while another thread waits inside a call (interrupt it, destroy what it
// waits on) poll this instead of sleeping and hoping the thread got there.
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <cstdio>

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

}  // namespace aioh::threads
