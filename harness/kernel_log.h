// The kernel log as an oracle: each case is marked in /dev/kmsg, and after it
// the new records are searched for BUG/WARNING/Oops/lockdep/RCU splats and the
// taint mask is compared. Silently off where /dev/kmsg cannot be read.
#pragma once

#include <string>

namespace aioh {

class KernelLogWatch {
 public:
  explicit KernelLogWatch(bool enabled);
  ~KernelLogWatch();
  KernelLogWatch(const KernelLogWatch&) = delete;
  KernelLogWatch& operator=(const KernelLogWatch&) = delete;
  void mark(const std::string& text);
  // "" when clean; otherwise an excerpt of what appeared (or the taint change).
  std::string collect(const std::string& id);

 private:
  int fd_ = -1;
  long taint_before_ = 0;
};

// True when a kernel log line is a splat worth failing a case for.
bool is_kernel_splat(const std::string& line);

}  // namespace aioh
