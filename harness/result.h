// One case×interface result and the run summary: the typed records the
// runner fills and every writer renders. JSON is made only by the writers
// (result.cc, writers/), from these types; the vocabulary is vocabulary.h's.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "outcome.h"
#include "environment.h"
#include "vocabulary.h"

namespace aioh {

// One outcome the case's child observed, as the child reported it.
struct Observation {
  Phase phase = Phase::submit;
  Channel channel = Channel::ret;
  std::optional<std::string> errno_name;  // set for an error
  int errno_num = 0;
  int64_t value = 0;                      // when not an error
  std::string sym;                        // symbolic value (AIO_CANCELED, a signal name, ...)
  std::optional<double> elapsed_ms;       // how long the call took, where the scenario timed it
  // The token compared with expectations: errno name, else symbol, else value.
  std::string token() const;
};

// A known defect recorded in the row, and whether the probe decided it.
struct XFailRecord {
  std::string reason, ref;
  std::string undecided;  // non-empty: the `if` fact was not decided by the probe, and why
};

// The target a case ran on (targets/target.h Target::record()).
struct TargetRecord {
  std::string name, kind, fs;
  int64_t sector_size = 0;
  std::string device, dir;
  std::map<std::string, Fact> facts;        // the probed geometry
  std::map<std::string, std::string> info;
  std::string reason;                       // non-empty: unavailable, and why
};

// The row's fault and what its mechanism read back (faults/fault.h).
struct FaultRecord {
  std::string layer, target, effect, trigger, fiu, range;
  uint64_t seed = 0;
  long fired_count = 0, calls = 0;
  std::string readback;
  bool fired() const { return fired_count > 0; }
};

struct Result {
  std::string id, case_id, area, interface, scenario;
  Verdict verdict = Verdict::broken;
  std::string expected, observed;
  std::vector<Observation> observations;
  std::string reason;
  double duration_ms = 0;
  std::string source, doc;
  std::optional<XFailRecord> xfail;
  std::optional<TargetRecord> target;
  std::optional<FaultRecord> fault;
  std::vector<std::string> notes;
  std::string stderr_tail;              // the child's last stderr bytes, if any

  std::string_view verdict_name() const { return aioh::verdict_name(verdict); }
};

struct Summary {
  std::map<Verdict, int> counts;
  std::map<std::string, std::map<Verdict, int>> by_interface;
  void add(const Result& r);
  int total() const;
  int count(Verdict v) const;
  // Exit status rule (vocabulary.h): a verdict with fails_run makes the run
  // unsuccessful; a run where every result skipped is all-skipped.
  bool failed() const;
  bool all_skipped() const;
  int exit_status() const;
};

// The JSON forms (schema: reports/schema/result.schema.json).
nlohmann::json to_json(const Observation& o);
nlohmann::json to_json(const TargetRecord& t);
nlohmann::json to_json(const FaultRecord& f);
nlohmann::json to_json(const Result& r);
nlohmann::json to_json(const Summary& s);

}  // namespace aioh
