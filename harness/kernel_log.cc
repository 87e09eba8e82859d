// /dev/kmsg and taint watching around a case (see kernel_log.h).
#include "kernel_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include <fmt/format.h>

namespace aioh {
namespace {
long read_taint() {
  std::ifstream f("/proc/sys/kernel/tainted");
  long v = 0;
  f >> v;
  return v;
}
}  // namespace

bool is_kernel_splat(const std::string& line) {
  for (const char* pat : {"BUG:", "WARNING:", "Oops:", "Oops ", "general protection fault",
                          "kernel BUG at", "possible circular locking", "lockdep",
                          "rcu_sched self-detected stall", "rcu: INFO:", "INFO: task",
                          "UBSAN:", "KASAN:", "Kernel panic"})
    if (line.find(pat) != std::string::npos) return true;
  return false;
}

KernelLogWatch::KernelLogWatch(bool enabled) {
  if (!enabled) return;
  fd_ = open("/dev/kmsg", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) fd_ = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ >= 0) lseek(fd_, 0, SEEK_END);
  taint_before_ = read_taint();
}

KernelLogWatch::~KernelLogWatch() {
  if (fd_ >= 0) close(fd_);
}

void KernelLogWatch::mark(const std::string& text) {
  if (fd_ < 0) return;
  std::string rec = "<6>" + text + "\n";
  (void)!write(fd_, rec.data(), rec.size());
}

std::string KernelLogWatch::collect(const std::string& id) {
  std::string excerpt;
  if (fd_ >= 0) {
    char buf[8192];
    for (;;) {
      ssize_t n = read(fd_, buf, sizeof buf - 1);
      if (n < 0 && errno == EPIPE) continue;  // records overwritten; keep reading
      if (n <= 0) break;
      std::string rec(buf, n);
      auto semi = rec.find(';');
      std::string msg = semi == std::string::npos ? rec : rec.substr(semi + 1);
      if (msg.find("aioharness: ") == 0) continue;
      if (is_kernel_splat(msg) && excerpt.size() < 600) excerpt += msg.substr(0, msg.find('\n')) + " | ";
    }
    mark(fmt::format("aioharness: end {}", id));
  }
  long taint_after = read_taint();
  if (taint_after != taint_before_)
    excerpt += fmt::format("taint changed {} -> {}", taint_before_, taint_after);
  return excerpt;
}

}  // namespace aioh
