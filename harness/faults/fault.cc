// The fault model shared by every layer: validation of a row's `fault`, the
// seeded trigger, libfiu as the control plane that makes each per-call
// decision, the shared readback page, and the result's `fault` object.
#include "faults/fault.h"

// libfiu compiles its points away unless FIU_ENABLE is defined (fiu.h).
#define FIU_ENABLE 1
#include <fiu-control.h>
#include <fiu.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <new>
#include <cstring>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "errno_names.h"
#include "faults/block.h"

namespace aioh::faults {
namespace {

struct Trigger {
  enum Kind { always, nth, random, external } kind = always;
  long n = 1;
  double p = 1.0;
};

FaultSpec g_spec;
Trigger g_trig;
uint64_t g_seed = 0;
FaultState* g_st = nullptr;
bool g_installed = false;

std::optional<Trigger> parse_trigger(const std::string& t) {
  Trigger tr;
  if (t == "always") return tr;
  if (t == "external") {  // only `fiu-ctrl -c "enable name=POINT"` makes it fire
    tr.kind = Trigger::external;
    return tr;
  }
  if (t == "once") {
    tr.kind = Trigger::nth;
    return tr;
  }
  char* end = nullptr;
  if (t.rfind("nth:", 0) == 0) {
    tr.kind = Trigger::nth;
    errno = 0;
    tr.n = strtol(t.c_str() + 4, &end, 10);
    if (*end || tr.n < 1 || errno == ERANGE) return std::nullopt;
    return tr;
  }
  if (t.rfind("random:", 0) == 0) {
    tr.kind = Trigger::random;
    tr.p = strtod(t.c_str() + 7, &end);
    if (*end || !(tr.p > 0 && tr.p <= 1)) return std::nullopt;  // also refuses nan
    return tr;
  }
  return std::nullopt;
}

// splitmix64: the k-th decision of a case depends only on (seed, k).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The "external" trigger: the case holds before arming until a user has
// enabled the point with `fiu-ctrl` (libfiu's remote control replaces the
// harness's rule, so fiu_fail() turns true); it gives up after 5 s, and the
// fault then does not fire (broken). fiu has no change notification, hence
// the poll; fiu_fail() here is not counted as a call.
void wait_external() {
  const std::string name = g_spec.fiu_name();
  size_t len = strnlen(g_st->detail, sizeof g_st->detail);
  for (int i = 0; i < 1000; i++) {
    if (fiu_fail(name.c_str())) {
      snprintf(g_st->detail + len, sizeof g_st->detail - len, "; %s enabled from outside (fiu-ctrl) after %d ms", name.c_str(), i * 5);
      return;
    }
    usleep(5000);
  }
  snprintf(g_st->detail + len, sizeof g_st->detail - len, "; %s was not enabled from outside within 5 s", name.c_str());
}

// libfiu asks this for every fiu_fail() of the point while it is enabled the
// harness's way; `fiu-ctrl -c "enable name=..."` replaces it with its own rule.
int trigger_cb(const char*, int*, void**, unsigned*) {
  long k = g_st->calls.load();  // 1-based index of the call being decided
  switch (g_trig.kind) {
    case Trigger::always: return 1;
    case Trigger::nth: return k == g_trig.n;
    case Trigger::external: return 0;
    case Trigger::random: return static_cast<double>(mix(g_seed ^ static_cast<uint64_t>(k)) >> 11) / 9007199254740992.0 < g_trig.p;
  }
  return 0;
}

const std::set<std::string> kSyscalls = {
    "io_setup", "io_destroy", "io_submit", "io_getevents", "io_pgetevents", "io_cancel",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2", "fsync", "fdatasync",
    "clone", "clone3", "openat", "eventfd2"};

}  // namespace

std::vector<std::string> layer_names() { return {"syscall", "rlimit", "sysctl", "enospc", "fs", "lsm", "block", "vm"}; }

int errno_of(const std::string& name) { return errno_from_name(name).value_or(0); }

// "PREFIX:N" with N a non-negative number as the layer reads it (strtol base 0).
static bool counted(const std::string& s, const std::string& prefix) {
  if (s.rfind(prefix, 0) != 0 || s.size() == prefix.size()) return false;
  errno = 0;
  char* end = nullptr;
  long v = strtol(s.c_str() + prefix.size(), &end, 0);
  return *end == '\0' && v >= 0 && errno != ERANGE;
}

std::string validate(const FaultSpec& f) {
  if (!parse_trigger(f.trigger))
    return fmt::format("fault trigger '{}' is not always, once, nth:N (N >= 1), random:P (0 < P <= 1) or external", f.trigger);
  if (f.layer == "syscall") {
    if (!kSyscalls.count(f.target)) return fmt::format("fault target '{}' is not a syscall this layer knows", f.target);
    // SIGSYS: SECCOMP_RET_TRAP, the call never runs and the caller is sent SIGSYS (Android's app policy).
    if (f.effect == "SIGSYS") return f.trigger == "always" ? "" : "a SIGSYS fault kills the caller: trigger must be \"always\"";
    if (!errno_from_name(f.effect)) return fmt::format("fault effect '{}' is not an errno name or SIGSYS", f.effect);
    return "";
  }
  // A limit, a sysctl or a full filesystem is in force for the whole case.
  if ((f.layer == "rlimit" || f.layer == "sysctl" || f.layer == "enospc") && f.trigger != "always")
    return fmt::format("the {} layer is in force for the whole case: trigger must be \"always\"", f.layer);
  if (f.layer == "rlimit") {
    if (f.target == "nofile")
      return f.effect == "exhaust" ? "" : "rlimit nofile effect must be \"exhaust\" (no fd slot left once armed)";
    if (f.target != "fsize" && f.target != "memlock")
      return fmt::format("rlimit target '{}': fsize (RLIMIT_FSIZE), memlock (RLIMIT_MEMLOCK) or nofile (RLIMIT_NOFILE)", f.target);
    if (!counted(f.effect, "limit:")) return fmt::format("rlimit effect '{}' is not limit:BYTES", f.effect);
    return "";
  }
  if (f.layer == "sysctl") {
    if (f.target == "aio-max-nr" && f.effect == "exhaust") return "";
    if (f.target == "io_uring_disabled" && (f.effect == "1" || f.effect == "2")) return "";
    return fmt::format("sysctl fault '{}'='{}': known are aio-max-nr=exhaust, io_uring_disabled=1|2", f.target, f.effect);
  }
  if (f.layer == "enospc") {
    if (f.target != "ext4-loop" || (f.effect != "full" && !counted(f.effect, "full:")))
      return "enospc fault: target = \"ext4-loop\", effect = \"full\" or \"full:BYTES\" (left for the scenario's file)";
    return "";
  }
  if (f.layer == "fs") return validate_fs(f);
  if (f.layer == "block") return validate_block(f);
  if (f.layer == "lsm") {
    if (f.target != "read" && f.target != "write") return "lsm fault target must be read or write";
    if (!errno_from_name(f.effect)) return fmt::format("lsm fault effect '{}' is not an errno name", f.effect);
    // Counted in the BPF program, which has no libfiu: always, once or nth:N.
    if (f.trigger.rfind("random:", 0) == 0 || f.trigger == "external") return "lsm fault trigger must be always, once or nth:N";
    return "";
  }
  if (f.layer == "vm") {  // a blkdebug rule the VM orchestrator arms (device.cc)
    std::string why;
    return parse_device_rule(f, &why) ? "" : why;
  }
  return fmt::format("unknown fault layer '{}' (syscall, rlimit, sysctl, enospc, fs, lsm, vm, block)", f.layer);
}

FaultState* state_alloc() {
  void* p = mmap(nullptr, sizeof(FaultState), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  return new (p) FaultState{};
}

void state_free(FaultState* st) {
  if (st) munmap(st, sizeof(FaultState));
}

uint64_t case_seed(uint64_t run_seed, const std::string& case_id) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a of the id
  for (unsigned char c : case_id) h = (h ^ c) * 1099511628211ULL;
  return mix(run_seed ^ h);
}

bool decide(const std::string& fiu_name) {
  if (!g_st || !g_st->armed.load()) return false;
  g_st->calls++;
  bool f = fiu_fail(fiu_name.c_str()) != 0;
  if (f) g_st->fired++;
  return f;
}

bool armed() { return g_st && g_st->armed.load(); }

void arm() {
  if (!g_st) return;
  if (g_installed && g_trig.kind == Trigger::external) wait_external();
  g_st->armed = 1;
  if (g_installed && g_spec.layer == "lsm") arm_lsm(true);
  if (g_installed && g_spec.layer == "rlimit") arm_rlimit();
  if (g_installed && g_spec.layer == "enospc") arm_enospc();
}
void disarm() {
  if (!g_st) return;
  g_st->armed = 0;
  if (g_installed && g_spec.layer == "rlimit") checkpoint_rlimit(g_st);
  if (g_installed && g_spec.layer == "lsm") arm_lsm(false);
  if (g_installed && g_spec.layer == "vm") readback_vm(g_st);
}

Installed install(const FaultSpec& f, uint64_t seed, FaultState* st, const std::string& case_dir, bool arm_now) {
  g_spec = f;
  g_trig = *parse_trigger(f.trigger);
  g_seed = seed;
  g_st = st;
  if (!st) return {Installed::broken, "no shared fault state", case_dir};
  fiu_init(0);
  fiu_enable_external(f.fiu_name().c_str(), 1, nullptr, 0, trigger_cb);
  // A user can drive this case's points with `fiu-ctrl -f PREFIX PID`.
  if (const char* fifo = getenv("AIOH_FIU_FIFO"); fifo && *fifo) fiu_rc_fifo(fifo);
  Installed r;
  r.scratch_dir = case_dir;
  if (f.layer == "syscall") r = install_syscall(f, st);
  else if (f.layer == "rlimit") r = install_rlimit(f, st);
  else if (f.layer == "sysctl") r = install_sysctl(f, st);
  else if (f.layer == "enospc") r = install_enospc(f, st, case_dir);
  else if (f.layer == "fs") r = install_fs(f, st, case_dir);
  else if (f.layer == "block") r = install_block(f, st, case_dir);
  else if (f.layer == "lsm") r = install_lsm(f, st, case_dir);
  else if (f.layer == "vm") r = install_vm(f, st, case_dir);
  if (r.scratch_dir.empty()) r.scratch_dir = case_dir;
  g_installed = r.kind == Installed::ok;
  if (g_installed && arm_now) arm();
  return r;
}

void release() {
  if (!g_installed) return;
  g_installed = false;
  disarm();
  if (g_spec.layer == "vm") release_vm();
  if (g_spec.layer == "sysctl") release_sysctl(g_st);
  else if (g_spec.layer == "enospc") release_enospc(g_st);
  else if (g_spec.layer == "rlimit") release_rlimit(g_st);
  else if (g_spec.layer == "fs") release_fs(g_st);
  else if (g_spec.layer == "block") release_block(g_st);
  else if (g_spec.layer == "lsm") release_lsm(g_st);
}

FaultRecord record(const FaultSpec& f, uint64_t seed, const FaultState* st) {
  FaultRecord r{f.layer, f.target, f.effect, f.trigger, f.fiu_name(), f.range, seed, 0, 0, {}};
  if (st) {
    r.fired_count = st->fired.load();
    r.calls = st->calls.load();
    if (st->detail[0]) r.readback = std::string(st->detail, strnlen(st->detail, sizeof st->detail));
  }
  return r;
}

}  // namespace aioh::faults
