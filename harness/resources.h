// Resource classes: what a case touches beyond its own process and scratch
// files, so running cases side by side never changes a verdict. Derived from
// the row (its fault layer, its target, its scenario; `exclusive = true` when
// its nature needs saying), never tuned until flakes stop:
//   exclusive  changes state every process sees (a sysctl, a BPF LSM
//              program, a module or device-mapper table, a guest disk's
//              fault rule, the kernel itself): runs alone;
//   serial     shares something with some other cases only (root's
//              locked-memory account, loop device allocation, a raw block
//              device target it writes): one at a time per key, beside
//              anything else; a case that only reads a raw target (its
//              prefill writes the same pattern every reader expects) holds
//              the target's key shared, beside other readers, never a writer;
//   shared     everything it changes is its own (seccomp filters, rlimits,
//              mount namespaces are per process; every case has its own
//              directory, also on a file target).
// Every case also counts against the kernel's own budgets: the AIO events
// its contexts may hold against fs.aio-max-nr − fs.aio-nr, and where the
// probe says io_uring charges locked memory, its rings against RLIMIT_MEMLOCK.
// A case with AIO contexts or rings that is not exclusive depends on those
// settings staying as they are: it holds them in use across harness runs
// (system::SettingsInUse), so another run's sysctl row waits for it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "case_table.h"
#include "probe.h"
#include "targets/target.h"

namespace aioh {

struct ResourceClaim {
  bool exclusive = false;
  std::vector<std::string> serial;  // keys: at most one case in flight per key
  std::vector<std::string> shared;  // keys held beside other holders of the key in shared mode
  std::string why;                  // what makes it exclusive or serial ("" when shared)
  long aio_events = 0;              // io_setup nr_events its contexts may take
  int uring_rings = 0;              // io_uring instances it may set up
  bool settings_in_use = false;     // holds fs.aio-max-nr / kernel.io_uring_disabled in use while it runs
  std::string class_name() const { return exclusive ? "exclusive" : serial.empty() ? "shared" : "serial"; }
};

// `targets`: the run's target specs (a raw device target is serial per
// target). With the probed `env`, a fault that cannot be installed here (no
// null_blk, not a VM guest) claims nothing: its case skips at once.
ResourceClaim derive_claim(const CaseRun& run, const std::vector<Target>& targets,
                           const Environment* env = nullptr);
// {"class": "...", "why": "...", "serial": [...], "aio_events": N} for --list --format json.
nlohmann::json to_json(const ResourceClaim& c);

// What may be in flight at once: jobs, serial keys, the AIO event budget and
// the io_uring ring budget. A claim larger than a budget still runs, alone.
class ResourceBudget {
 public:
  // From the environment: fs.aio-max-nr − fs.aio-nr (a quarter kept for the
  // rest of the machine), and rings without limit unless io_uring charges
  // RLIMIT_MEMLOCK (memlock_charged), then memlock_soft / 256 KiB.
  ResourceBudget(const Environment& env, int jobs);
  bool fits(const ResourceClaim& c) const;
  void take(const ResourceClaim& c);
  void give(const ResourceClaim& c);
  int in_flight() const { return in_flight_; }
  bool exclusive_running() const { return exclusive_; }
  int jobs() const { return jobs_; }

 private:
  int jobs_;
  long aio_room_, aio_used_ = 0;
  long ring_room_, rings_used_ = 0;
  int in_flight_ = 0;
  bool exclusive_ = false;
  std::map<std::string, std::pair<int, int>> keys_;  // key -> (shared holders, serial holders)
};

}  // namespace aioh
