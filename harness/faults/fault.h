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
//
// Each layer is one file named for it that registers itself (AIOH_FAULT_LAYER
// below): syscall (seccomp user notification or TRAP), rlimit (FSIZE, NOFILE,
// MEMLOCK), sysctl (aio-max-nr, io_uring_disabled), enospc (a full ext4 loop
// filesystem), fs (a FUSE fault filesystem), lsm (a BPF LSM program), block
// (a faulty null_blk/scsi_debug/dm device in a guest) and vm (a QEMU blkdebug
// rule the VM orchestrator arms). The run-level policy profiles are one table
// in policy.cc.
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
  std::string layer;    // a registered layer's name (layer_names())
  std::string target;   // syscall name, limit name, sysctl name, ...
  std::string effect;   // errno name, or a layer-specific effect
  std::string trigger = "always";  // always | once | nth:N | random:P
  std::string range = {};  // fs layer: "LO:HI", the byte range [LO, HI) a request must overlap
  // The libfiu point: syscall/io_submit, limit/fsize, sysctl/aio-max-nr,
  // fs/enospc, vm/<target>: the layer's own, else LAYER/TARGET.
  std::string fiu_name() const;
};

// The layers a row's `fault.layer` may name: the registry's, in its order.
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

// What a case with a layer's fault shares with other cases (resources.h):
// exclusive (machine-wide state: runs alone), a serial key (one case at a
// time per key), and why, as the resource class's explanation says it.
struct LayerClaim {
  bool exclusive = false;
  std::string serial;  // "" for none
  std::string why;     // "" when the layer's cases are shared
};

// One fault layer as its file registers it (AIOH_FAULT_LAYER, the way
// AIOH_BACKEND registers an interface): its name in rows, its place in the
// vocabulary's order, and the five steps the fault model drives. install runs
// in the case's child before the scenario; arm and disarm bracket what the
// scenario counts; release restores what install changed and records the
// readback. Only validate and install are required.
struct FaultLayer {
  std::string_view name;
  // Listing order: syscall 10, rlimit 20, sysctl 30, enospc 40, fs 50,
  // lsm 60, block 70, vm 80.
  int order = 0;
  // In force for the whole case (a limit, a sysctl, a full filesystem): the
  // trigger must be "always".
  bool whole_case = false;
  // "" when the row's target/effect are the layer's, else what is wrong (the
  // trigger is checked before, by the model).
  std::function<std::string(const FaultSpec&)> validate;
  std::function<Installed(const FaultSpec&, FaultState*, const std::string& case_dir)> install;
  std::function<void()> arm = {};
  std::function<void(FaultState*)> disarm = {};
  std::function<void(FaultState*)> release = {};
  // The libfiu point when it is not LAYER/TARGET.
  std::function<std::string(const FaultSpec&)> fiu_point = {};
  // The resource class of every case with this layer's fault; claim_for,
  // when given, decides it per row instead (a target that shares more).
  LayerClaim claim = {};
  std::function<LayerClaim(const FaultSpec&)> claim_for = {};
  // Why the row's fault cannot be installed on this machine, from the
  // probe's facts (`fact(name)`: the environment's flag); "" when it can.
  // Its case then skips in its child before it touches anything.
  std::function<std::string(const FaultSpec&, const std::function<bool(const std::string&)>& fact)> unavailable = {};
};

// Registers a layer (at static-init time through AIOH_FAULT_LAYER). A second
// layer of the same name, or one without validate/install, aborts.
void register_fault_layer(FaultLayer layer);
// Removes a layer; for tests that register a test-only one for a while.
void unregister_fault_layer(std::string_view name);
// nullptr when no layer of that name is registered.
const FaultLayer* find_fault_layer(std::string_view name);

#define AIOH_FAULT_LAYER_CAT2(a, b) a##b
#define AIOH_FAULT_LAYER_CAT(a, b) AIOH_FAULT_LAYER_CAT2(a, b)
// Registers a layer at static-init time, with designated initializers:
//   AIOH_FAULT_LAYER("rlimit", .order = 20, .whole_case = true,
//                    .validate = validate_rlimit, .install = install_rlimit, ...);
#define AIOH_FAULT_LAYER(layer_name, ...)                                                    \
  static const bool AIOH_FAULT_LAYER_CAT(aioh_fault_layer_registered_, __LINE__) = [] {     \
    ::aioh::faults::register_fault_layer(::aioh::faults::FaultLayer{.name = layer_name, __VA_ARGS__}); \
    return true;                                                                             \
  }()

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
// Whether the profile stays for the whole run (a seccomp filter) rather than
// only around the probe (a sysctl).
bool policy_lasts_run(const std::string& name);
std::string apply_policy(const std::string& name);
// For sysctl profiles: set, call probe(), restore. Returns "" or an error.
std::string with_policy_sysctl(const std::string& name, const std::function<void()>& probe);
// io_uring-disabled-1 drops CAP_SYS_ADMIN for the probe (an ordinary user
// meets io_uring_allowed()); a probe child doing the harness's own work that
// needs it (mounting the fault fs) takes it back first. No-op otherwise.
void policy_exempt_machinery();

// What single layers offer the rest of the harness (the probe, the scenarios).

// The vm layer (vm.cc): a QEMU blkdebug rule on the guest's disk, armed
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
struct DeviceTarget {
  std::string device;       // "" when no device fault is armed
  DeviceRule rule;
  int64_t sector = -1;      // this interface's faulted sector (-1 for a flush)
  int64_t where = 0;        // the sector the case's first request starts at
};
DeviceTarget device_target(std::string_view iface);
// The block layer's failed-request log line: its sector, and its op into *op.
std::optional<int64_t> parse_block_error(const std::string& line, const std::string& disk, std::string* op);
// A slow-disk row saw its request held at the device (the throttle took effect).
void device_fired(const std::string& detail);
// The lsm layer (lsm.cc), a BPF LSM program on file_permission. The probe's round trip for the lsm layer: "" when a loaded program denied a
// read here, else the classified reason (no BTF, not built, LSM not active).
std::string probe_bpf_lsm(const std::string& scratch_dir);
// How many of the layer's programs the kernel holds now (-1: cannot tell).
int count_lsm_programs();
// The fs layer (fs.cc), a libfuse3 fault filesystem mounted on <case>/fs.
// Scenarios: waits until a delayed request is inside the fault fs daemon
// (an eventfd it signals); false after timeout_ms.
bool fs_wait_entered(int timeout_ms);
// The probe's round trip: mounts the fault fs under scratch_dir, reads a file
// through it with an EIO rule armed, unmounts. "" when the EIO came back and
// fired, else why not (no /dev/fuse, mount refused, ...). Run it in a child.
std::string probe_fs(const std::string& scratch_dir);

// The trigger, decided per call through libfiu (fault.cc).
bool decide(const std::string& fiu_name);
// Whether the case's fault is armed now (shared with the fault fs daemon).
bool armed();
int errno_of(const std::string& name);
// For layers' validate: "PREFIX:N" with N a non-negative number (strtol base 0).
bool counted(const std::string& s, const std::string& prefix);

}  // namespace aioh::faults
