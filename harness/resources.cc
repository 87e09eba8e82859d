// Resource classes derived from a row, and the budget of what is in flight
// (see resources.h). A fault layer's class comes from its registration
// (FaultLayer::claim); the table here says which scenarios are exclusive by
// themselves; everything else is shared.
#include "resources.h"

#include <algorithm>

#include <fmt/format.h>

#include "faults/fault.h"

namespace aioh {
namespace {

struct ScenarioClass {
  const char* scenario;
  const char* why;
};

// Scenarios that change machine-wide state themselves, without a fault row.
constexpr ScenarioClass kExclusiveScenarios[] = {
    {"kaio_setup_exhaust", "lowers fs.aio-max-nr to what is in use"},
    {"sysrq_panic", "panics the kernel"},
};

bool is_aio_interface(const std::string& i) { return i == "kernel-aio" || i == "libaio"; }

// Why the row's fault cannot be installed on this machine ("" when it can),
// as its layer says from the probe's facts: its case skips in its child
// before it touches anything.
std::string not_installable(const faults::FaultSpec& f, const Environment& env) {
  const faults::FaultLayer* l = faults::find_fault_layer(f.layer);
  if (!l || !l->unavailable) return "";
  return l->unavailable(f, [&](const std::string& fact) { return env.flag(fact); });
}

// The nr_events a kernel-AIO case asks io_setup for: the row's `entries`
// when it is one io_setup would accept, else the scenarios' usual 64, with
// room for a second context.
long aio_events_of(const CaseRow& row) {
  constexpr long kUsual = 128;
  auto it = row.params.find("entries");
  if (it == row.params.end() || !std::holds_alternative<int64_t>(it->second)) return kUsual;
  long n = static_cast<long>(std::get<int64_t>(it->second));
  return n > 0 && n <= 65536 ? std::max(n, kUsual) : kUsual;  // larger is refused before it counts
}

// dio_sweep on a raw device prefills the bytes around its request with the
// file pattern (the same bytes whoever writes them), then reads and checks
// them: readers can share the device; a write leaves other bytes there.
bool only_reads_device(const CaseRow& row) {
  if (row.scenario != "dio_sweep") return false;
  auto it = row.params.find("op");
  std::string op = it == row.params.end() ? "read" : std::get<std::string>(it->second);
  return op == "read" || op == "readv" || op == "open";
}

}  // namespace

ResourceClaim derive_claim(const CaseRun& run, const std::vector<Target>& targets, const Environment* env) {
  const CaseRow& row = *run.row;
  ResourceClaim c;
  if (is_aio_interface(run.interface)) c.aio_events = aio_events_of(row);
  if (run.interface == "io_uring") c.uring_rings = 1;
  std::vector<std::string> why;
  if (row.exclusive) {
    c.exclusive = true;
    why.push_back("the row says exclusive");
  }
  for (auto& s : kExclusiveScenarios)
    if (row.scenario == s.scenario) {
      c.exclusive = true;
      why.push_back(fmt::format("scenario {} {}", s.scenario, s.why));
    }
  if (row.fault && env) {
    if (auto why_not = not_installable(*row.fault, *env); !why_not.empty()) {
      c.why = fmt::format("fault layer {}: {}, so the case skips", row.fault->layer, why_not);
      return c;
    }
  }
  if (row.fault) {
    // The layer's registration says what its cases share (faults/fault.h).
    if (const faults::FaultLayer* l = faults::find_fault_layer(row.fault->layer)) {
      faults::LayerClaim lc = l->claim_for ? l->claim_for(*row.fault) : l->claim;
      c.exclusive |= lc.exclusive;
      if (!lc.serial.empty()) c.serial.push_back(lc.serial);
      if (!lc.why.empty()) why.push_back(fmt::format("fault layer {} {}", l->name, lc.why));
    }
  }
  if (std::string tname = run_target(run); !tname.empty()) {
    auto t = std::find_if(targets.begin(), targets.end(), [&](const Target& x) { return x.name == tname; });
    // A raw target is one device every case on it reads and writes at the
    // row's offsets; a file target gives each case its own directory.
    if (t != targets.end() && t->raw()) {
      if (only_reads_device(row)) {
        c.shared.push_back("target:" + tname);
        why.push_back(fmt::format("reads the raw block device of target {} (beside other readers)", tname));
      } else {
        c.serial.push_back("target:" + tname);
        why.push_back(fmt::format("writes the raw block device of target {}", tname));
      }
    }
  }
  for (auto& w : why) c.why += (c.why.empty() ? "" : "; ") + w;
  // An exclusive case may change those settings itself; it runs alone here.
  c.settings_in_use = !c.exclusive && (c.aio_events > 0 || c.uring_rings > 0);
  return c;
}

nlohmann::json to_json(const ResourceClaim& c) {
  nlohmann::json j = {{"class", c.class_name()}};
  if (!c.why.empty()) j["why"] = c.why;
  if (!c.serial.empty()) j["serial"] = c.serial;
  if (!c.shared.empty()) j["shared_keys"] = c.shared;
  if (c.aio_events) j["aio_events"] = c.aio_events;
  if (c.uring_rings) j["uring_rings"] = c.uring_rings;
  return j;
}

ResourceBudget::ResourceBudget(const Environment& env, int jobs) : jobs_(std::max(1, jobs)) {
  long max = env.number("aio_max_nr").value_or(65536);
  long used = env.number("aio_nr").value_or(0);
  aio_room_ = std::max(0L, (max - used) * 3 / 4);
  ring_room_ = -1;  // unlimited
  if (env.flag("memlock_charged")) {
    long soft = env.number("memlock_soft").value_or(-1);
    if (soft >= 0) ring_room_ = std::max(1L, soft / (256 * 1024));
  }
}

bool ResourceBudget::fits(const ResourceClaim& c) const {
  if (in_flight_ == 0) return true;  // anything runs when it runs alone
  if (exclusive_ || c.exclusive || in_flight_ >= jobs_) return false;
  for (auto& k : c.serial)
    if (auto it = keys_.find(k); it != keys_.end() && (it->second.first > 0 || it->second.second > 0)) return false;
  for (auto& k : c.shared)
    if (auto it = keys_.find(k); it != keys_.end() && it->second.second > 0) return false;
  if (aio_used_ + c.aio_events > aio_room_) return false;
  if (ring_room_ >= 0 && rings_used_ + c.uring_rings > ring_room_) return false;
  return true;
}

void ResourceBudget::take(const ResourceClaim& c) {
  in_flight_++;
  exclusive_ |= c.exclusive;
  for (auto& k : c.serial) keys_[k].second++;
  for (auto& k : c.shared) keys_[k].first++;
  aio_used_ += c.aio_events;
  rings_used_ += c.uring_rings;
}

void ResourceBudget::give(const ResourceClaim& c) {
  in_flight_--;
  if (c.exclusive) exclusive_ = false;
  for (auto& k : c.serial) keys_[k].second--;
  for (auto& k : c.shared) keys_[k].first--;
  aio_used_ -= c.aio_events;
  rings_used_ -= c.uring_rings;
}

}  // namespace aioh
