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
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "errno_names.h"
#include "ordered_registry.h"

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

OrderedRegistry<FaultLayer>& registry() {
  static OrderedRegistry<FaultLayer> r;
  return r;
}

const FaultLayer* installed_layer() { return g_installed ? find_fault_layer(g_spec.layer) : nullptr; }

}  // namespace

void register_fault_layer(FaultLayer layer) {
  bool complete = layer.validate && layer.install;
  registry().add(std::move(layer), complete, "fault layer", "validate/install");
}

void unregister_fault_layer(std::string_view name) { registry().remove(name); }

const FaultLayer* find_fault_layer(std::string_view name) { return registry().find(name); }

std::vector<std::string> layer_names() { return registry().names(); }

std::string FaultSpec::fiu_name() const {
  const FaultLayer* l = find_fault_layer(layer);
  return l && l->fiu_point ? l->fiu_point(*this) : layer + "/" + target;
}

int errno_of(const std::string& name) { return errno_from_name(name).value_or(0); }

// "PREFIX:N" with N a non-negative number as the layer reads it (strtol base 0).
bool counted(const std::string& s, const std::string& prefix) {
  if (s.rfind(prefix, 0) != 0 || s.size() == prefix.size()) return false;
  errno = 0;
  char* end = nullptr;
  long v = strtol(s.c_str() + prefix.size(), &end, 0);
  return *end == '\0' && v >= 0 && errno != ERANGE;
}

std::string validate(const FaultSpec& f) {
  if (!parse_trigger(f.trigger))
    return fmt::format("fault trigger '{}' is not always, once, nth:N (N >= 1), random:P (0 < P <= 1) or external", f.trigger);
  const FaultLayer* l = find_fault_layer(f.layer);
  if (!l) return fmt::format("unknown fault layer '{}' ({})", f.layer, fmt::join(layer_names(), ", "));
  if (l->whole_case && f.trigger != "always")
    return fmt::format("the {} layer is in force for the whole case: trigger must be \"always\"", f.layer);
  return l->validate(f);
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
  if (const FaultLayer* l = installed_layer(); l && l->arm) l->arm();
}
void disarm() {
  if (!g_st) return;
  g_st->armed = 0;
  if (const FaultLayer* l = installed_layer(); l && l->disarm) l->disarm(g_st);
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
  if (const FaultLayer* l = find_fault_layer(f.layer)) r = l->install(f, st, case_dir);
  else r = {Installed::broken, "unknown fault layer " + f.layer, case_dir};
  if (r.scratch_dir.empty()) r.scratch_dir = case_dir;
  g_installed = r.kind == Installed::ok;
  if (g_installed && arm_now) arm();
  return r;
}

void release() {
  const FaultLayer* l = installed_layer();
  if (!l) return;
  // Uninstalled first: disarm() then only stops counting; each layer's
  // release reads back what a scenario that never disarmed left.
  g_installed = false;
  disarm();
  if (l->release) l->release(g_st);
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
