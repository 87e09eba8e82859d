// Fault injection: a fault is a property of a case row (layer, target,
// effect, trigger). The runner installs it in the case's forked child before
// the scenario runs, and reads back from the mechanism itself whether it
// fired: the seccomp supervisor counts the calls it failed, SIGXFSZ is counted
// by a handler, a sysctl/filesystem layer re-reads the kernel's own counters.
// A row whose fault did not fire is broken, never pass. libfiu is the control
// plane: every injection point is a fiu name ("syscall/io_submit",
// "limit/fsize", "sysctl/aio-max-nr", "fs/enospc") whose fiu decision, made
// by a seeded trigger, decides each call, so `fiu-ctrl` can drive a running
// case and `--fault-seed N` reproduces a random run.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace aioh::faults {

struct FaultSpec {
  std::string layer;    // one of layer_names(): syscall, rlimit, sysctl, enospc, fs, lsm, block, vm
  std::string target;   // syscall name, limit name, sysctl name, ...
  std::string effect;   // errno name, or a layer-specific effect
  std::string trigger = "always";  // always | once | nth:N | random:P
  std::string range = {};  // fs layer: "LO:HI", the byte range [LO, HI) a request must overlap
  // The libfiu point: syscall/io_submit, limit/fsize, sysctl/aio-max-nr, fs/enospc, vm/<target>.
  std::string fiu_name() const {
    if (layer == "rlimit") return "limit/" + target;
    if (layer == "enospc") return "fs/enospc";
    return layer + "/" + target;
  }
};

// The layers a row's `fault.layer` may name.
std::vector<std::string> layer_names();

// "" when the spec is valid, else what is wrong (checked at table load).
std::string validate(const FaultSpec& f);

// What the mechanism saw, in memory shared with the parent across fork(), so
// it survives a child that crashed or was killed by the watchdog.
struct FaultState {
  std::atomic<long> calls;   // matching calls the mechanism saw while armed
  std::atomic<long> fired;   // faults it injected
  std::atomic<int> armed;
  char detail[512];          // readback text, NUL-terminated
};
FaultState* state_alloc();
void state_free(FaultState* st);

// The case's seed: the run's --fault-seed mixed with the case id, so a case
// decides the same whatever else runs.
uint64_t case_seed(uint64_t run_seed, const std::string& case_id);

struct Installed {
  enum Kind { ok, skip, broken } kind = ok;
  std::string reason;
  std::string scratch_dir;  // where the scenario's files go (a fault fs may replace it)
};

// In the case's child, before the scenario. `arm_now` false: the scenario
// arms it (fault-aware scenarios prepare their files first, uncounted).
Installed install(const FaultSpec& f, uint64_t seed, FaultState* st, const std::string& case_dir, bool arm_now);
// In the child after the scenario: restores what install changed (sysctls)
// and records the readback in the shared state.
void release();
// Start counting/injecting (fault-aware scenarios call it after preparing).
void arm();
// Stop injecting (before a scenario's own verification reads and its
// teardown); also reads back what only the live process can show (a
// SIGXFSZ pending on a worker thread that blocks signals).
void disarm();

// The result's fault record (parent side).
FaultRecord record(const FaultSpec& f, uint64_t seed, const FaultState* st);

// Run-level policy profiles (`harness --policy NAME`), applied to the harness
// process itself before the probe, the way a container runtime applies them:
// docker (io_uring_* EPERM), podman (ENOSYS), android (SIGSYS). Returns "" or
// an error. Sysctl profiles (io_uring-disabled-1/2, aio-max-nr) are set only
// around the probe and restored at once (journalled): `probe` runs the probe.
std::string policy_names();
std::string apply_policy(const std::string& name);
// For sysctl profiles: set, call probe(), restore. Returns "" or an error.
std::string with_policy_sysctl(const std::string& name, const std::function<void()>& probe);
// io_uring-disabled-1 drops CAP_SYS_ADMIN for the probe (an ordinary user
// meets io_uring_allowed()); a probe child doing the harness's own work that
// needs it (mounting the fault fs) takes it back first. No-op otherwise.
void policy_exempt_machinery();

// Layer entry points (one file each).
Installed install_syscall(const FaultSpec& f, FaultState* st);
Installed install_rlimit(const FaultSpec& f, FaultState* st);
Installed install_sysctl(const FaultSpec& f, FaultState* st);
Installed install_enospc(const FaultSpec& f, FaultState* st, const std::string& case_dir);
void release_sysctl(FaultState* st);
void release_enospc(FaultState* st);
void arm_enospc();  // tops the fill up once the scenario's own file is written
void release_rlimit(FaultState* st);
void arm_rlimit();  // nofile: the limit goes in once the scenario holds its fds

// The vm layer (device.cc): a QEMU blkdebug rule on the guest's disk, armed
// by the VM orchestrator. `text()` is the rule as the orchestrator names it
// (AIOH_DEVICE_FAULT, vm/devfaults.py): EVENT:ERRNO[:sector=N][:always].
struct DeviceRule {
  std::string event;       // read_aio | write_aio | flush_to_disk | throttle (a slow disk)
  std::string errno_name;
  int64_t sector = -1;     // 512-byte sectors; -1: none (flush, throttle)
  bool once = true;
  int64_t iops = 0;        // throttle: the disk's requests per second
  std::string text() const;
};
std::optional<DeviceRule> parse_device_rule(const FaultSpec& f, std::string* why);
// Which copy of a rule is this interface's: its place in catalog order
// (posix-aio 0, kernel-aio 1, libaio 2, io_uring 3; backend.h).
int64_t device_slot(std::string_view iface);
Installed install_vm(const FaultSpec& f, FaultState* st, const std::string& case_dir);
struct DeviceTarget {
  std::string device;       // "" when no device fault is armed
  DeviceRule rule;
  int64_t sector = -1;      // this interface's faulted sector (-1 for a flush)
  int64_t where = 0;        // the sector the case's first request starts at
};
DeviceTarget device_target(std::string_view iface);
// The block layer's failed-request log line: its sector, and its op into *op.
std::optional<int64_t> parse_block_error(const std::string& line, const std::string& disk, std::string* op);
void readback_vm(FaultState* st);
// A slow-disk row saw its request held at the device (the throttle took effect).
void device_fired(const std::string& detail);
void release_vm();
// The lsm layer (lsm.cc): a BPF LSM program on file_permission. arm_lsm names
// the scratch files and switches the program on/off (off reads back counts).
Installed install_lsm(const FaultSpec& f, FaultState* st, const std::string& case_dir);
void arm_lsm(bool on);
void release_lsm(FaultState* st);
// The probe's round trip for the lsm layer: "" when a loaded program denied a
// read here, else the classified reason (no BTF, not built, LSM not active).
std::string probe_bpf_lsm(const std::string& scratch_dir);
// How many of the layer's programs the kernel holds now (-1: cannot tell).
int count_lsm_programs();
// The fs layer (fuse.cc): a libfuse3 fault filesystem mounted on <case>/fs.
Installed install_fs(const FaultSpec& f, FaultState* st, const std::string& case_dir);
void release_fs(FaultState* st);
std::string validate_fs(const FaultSpec& f);
// Scenarios: waits until a delayed request is inside the fault fs daemon
// (an eventfd it signals); false after timeout_ms.
bool fs_wait_entered(int timeout_ms);
// The probe's round trip: mounts the fault fs under scratch_dir, reads a file
// through it with an EIO rule armed, unmounts. "" when the EIO came back and
// fired, else why not (no /dev/fuse, mount refused, ...). Run it in a child.
std::string probe_fs(const std::string& scratch_dir);
void checkpoint_rlimit(FaultState* st);

// The trigger, decided per call through libfiu (fault.cc).
bool decide(const std::string& fiu_name);
// Whether the case's fault is armed now (shared with the fault fs daemon).
bool armed();
int errno_of(const std::string& name);

}  // namespace aioh::faults
