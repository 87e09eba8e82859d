// The sysctl layer: the global sysctls users meet in the field, for one
// case: fs.aio-max-nr exhausted (fs/aio.c ioctx_alloc() EAGAIN) and
// kernel.io_uring_disabled 1/2 (io_uring/io_uring.c io_uring_allowed()).
// A sysctl is changed under the machine-wide settings lock with its original
// kept and journalled BEFORE it is changed (system/settings.h), and restored
// right after the case, so a killed case or harness is undone by the runner,
// the next run or `harness --cleanup`, and a second run beside it neither
// changes it at the same time nor mistakes the temporary value for the old
// one. The proof it fired is the kernel's own value read back.
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "faults/fault.h"
#include "system/capabilities.h"
#include "system/settings.h"

namespace aioh::faults {
namespace {

using system::set_admin_effective;
using system::SysctlChange;
SysctlChange g_change{system::kCaseLockWait};  // the case's fault row
std::string g_sysctl_target;
long g_set_value = 0;
bool g_dropped_admin = false;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

std::string validate_sysctl(const FaultSpec& f) {
  if (f.target == "aio-max-nr" && f.effect == "exhaust") return "";
  if (f.target == "io_uring_disabled" && (f.effect == "1" || f.effect == "2")) return "";
  return fmt::format("sysctl fault '{}'='{}': known are aio-max-nr=exhaust, io_uring_disabled=1|2", f.target, f.effect);
}

Installed install_sysctl(const FaultSpec& f, FaultState* st) {
  g_sysctl_target = f.target;
  std::string err;
  if (f.target == "aio-max-nr") {
    // 0: any io_setup now fails, whatever other processes hold or free
    // meanwhile (fs/aio.c ioctx_alloc() "aio_nr + nr_events > aio_max_nr").
    g_set_value = 0;
    err = g_change.set("/proc/sys/fs/aio-max-nr", std::to_string(g_set_value));
  } else {
    g_set_value = strtol(f.effect.c_str(), nullptr, 10);
    if (g_set_value == 1 && !(g_dropped_admin = set_admin_effective(false)))
      return {Installed::broken, "cannot drop CAP_SYS_ADMIN for kernel.io_uring_disabled=1", ""};
    err = g_change.set("/proc/sys/kernel/io_uring_disabled", f.effect);
  }
  if (!err.empty()) return {Installed::broken, err, ""};
  st->calls = 1;
  return {Installed::ok, "", ""};
}

// The readback names the original and, when another run held the lock, that.
std::string lock_note() { return g_change.lock_note().empty() ? "" : "; " + g_change.lock_note(); }

void release_sysctl(FaultState* st) {
  // Read the kernel's own state back before restoring it.
  std::string now = read_text(g_change.path());
  long held = strtol(now.c_str(), nullptr, 10);
  if (g_sysctl_target == "aio-max-nr") {
    long nr = strtol(read_text("/proc/sys/fs/aio-nr").c_str(), nullptr, 10);
    if (held == 0) st->fired = 1;
    snprintf(st->detail, sizeof st->detail, "fs.aio-max-nr=%ld (was %s) with fs.aio-nr=%ld: no room for an io_setup%s", held,
             g_change.original().c_str(), nr, lock_note().c_str());
  } else {
    bool ok = held == g_set_value;
    if (g_set_value == 1) {
      std::string gid = read_text("/proc/sys/kernel/io_uring_group");
      ok = ok && gid == "-1";
      snprintf(st->detail, sizeof st->detail, "kernel.io_uring_disabled=%ld (was %s), io_uring_group=%s, CAP_SYS_ADMIN dropped%s",
               held, g_change.original().c_str(), gid.c_str(), lock_note().c_str());
    } else {
      snprintf(st->detail, sizeof st->detail, "kernel.io_uring_disabled=%ld (was %s)%s", held, g_change.original().c_str(),
               lock_note().c_str());
    }
    if (ok) st->fired = 1;
  }
  g_change.restore();
  if (g_dropped_admin) set_admin_effective(true);
}

}  // namespace

AIOH_FAULT_LAYER("sysctl", .order = 30, .whole_case = true, .validate = validate_sysctl,
                 .install = [](const FaultSpec& f, FaultState* st, const std::string&) { return install_sysctl(f, st); },
                 .release = release_sysctl, .claim = {true, "", "sets a sysctl every process sees"});

}  // namespace aioh::faults
