// The run-level policy profiles (`harness --policy NAME`), as one table:
// what a container runtime or a distribution's setting does to the harness
// process itself, applied before the probe so the probe and every case's
// child meet it. A seccomp profile filters io_uring_setup/enter/register for
// every thread for the whole run (docker: EPERM, podman: ENOSYS, android:
// SIGSYS); a sysctl profile (kernel.io_uring_disabled 1/2, fs.aio-max-nr 0)
// holds only while the probe runs and is restored at once, journalled and
// under the machine-wide settings lock like the sysctl layer's changes
// (system/settings.h).
#include <errno.h>
#include <seccomp.h>

#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "errno_names.h"
#include "faults/fault.h"
#include "system/capabilities.h"
#include "system/settings.h"

namespace aioh::faults {
namespace {

struct Profile {
  const char* name;
  // A seccomp profile: the action for the io_uring syscalls (0: none).
  uint32_t seccomp_action;
  // A sysctl profile: the sysctl and the value it holds during the probe.
  const char* sysctl;
  const char* value;
  // The probe runs as an ordinary user would (CAP_SYS_ADMIN out of the
  // effective set): io_uring_allowed() lets CAP_SYS_ADMIN through 1.
  bool drop_admin;
};

const Profile kProfiles[] = {
    // moby profiles/seccomp/default.json: defaultAction SCMP_ACT_ERRNO, io_uring_* removed (moby#46762)
    {"docker", SCMP_ACT_ERRNO(EPERM), nullptr, nullptr, false},
    // containers/common seccomp.json defaultErrnoRet ENOSYS; gVisor answers ENOSYS
    {"podman", SCMP_ACT_ERRNO(ENOSYS), nullptr, nullptr, false},
    // bionic's app filter: SECCOMP_RET_TRAP, SIGSYS kills the app
    {"android", SCMP_ACT_TRAP, nullptr, nullptr, false},
    {"io_uring-disabled-1", 0, "/proc/sys/kernel/io_uring_disabled", "1", true},
    {"io_uring-disabled-2", 0, "/proc/sys/kernel/io_uring_disabled", "2", false},
    {"aio-max-nr-exhausted", 0, "/proc/sys/fs/aio-max-nr", "0", false},
};

const Profile* find(const std::string& name) {
  for (auto& p : kProfiles)
    if (name == p.name) return &p;
  return nullptr;
}

bool g_policy_dropped_admin = false;  // io_uring-disabled-1 around the probe

}  // namespace

std::string policy_names() {
  std::vector<std::string> names;
  for (auto& p : kProfiles) names.emplace_back(p.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

bool policy_lasts_run(const std::string& name) {
  const Profile* p = find(name);
  return p && p->seccomp_action;
}

std::string apply_policy(const std::string& name) {
  const Profile* p = find(name);
  if (!p || !p->seccomp_action) return "";  // not a seccomp profile
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return "seccomp_init failed";
  int rc = 0;
  for (const char* s : {"io_uring_setup", "io_uring_enter", "io_uring_register"})
    if (rc == 0) rc = seccomp_rule_add(ctx, p->seccomp_action, seccomp_syscall_resolve_name(s), 0);
  // TSYNC: every thread of the harness, as a runtime filters the whole container.
  if (rc == 0) rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  return rc == 0 ? "" : fmt::format("cannot load the {} seccomp profile: {}", name, errno_name(-rc));
}

std::string with_policy_sysctl(const std::string& name, const std::function<void()>& probe) {
  const Profile* p = find(name);
  if (!p || !p->sysctl) return fmt::format("unknown policy '{}' (known: {})", name, policy_names());
  system::SysctlChange ch;
  std::string err = ch.set(p->sysctl, p->value);
  bool drop = false;
  // Dropped from the effective set only (the harness's own machinery — the
  // FUSE probe's mount — takes it back: policy_exempt_machinery()).
  if (p->drop_admin && err.empty() && !(drop = system::set_admin_effective(false))) err = "cannot drop CAP_SYS_ADMIN";
  g_policy_dropped_admin = drop;
  if (err.empty()) probe();  // the only thing that runs under the changed sysctl
  if (drop) system::set_admin_effective(true);
  g_policy_dropped_admin = false;
  if (std::string r = ch.restore(); !r.empty() && err.empty()) err = "could not restore after the probe: " + r;
  return err;
}

void policy_exempt_machinery() {
  if (g_policy_dropped_admin) system::set_admin_effective(true);
}

}  // namespace aioh::faults
