// One case×interface result and the run summary, as every writer sees them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace aioh {

// The verdict vocabulary. A skip always has a reason; broken means the case
// could not assert anything (set-up failed, or it observed nothing).
inline constexpr const char* kVerdicts[] = {"pass", "fail", "skip", "xfail",
                                            "xpass", "broken", "timeout", "crash"};

struct Result {
  std::string id, case_id, area, interface, scenario;
  std::string verdict;
  std::string expected, observed;
  nlohmann::json observations = nlohmann::json::array();
  std::string reason;
  double duration_ms = 0;
  std::string source, doc;
  nlohmann::json xfail;                 // null or {reason, ref}
  nlohmann::json target;                // null or the target's kind and geometry
  nlohmann::json fault;                 // null or {layer, target, effect, trigger, fired, ...}
  std::vector<std::string> notes;
  std::string stderr_tail;              // the child's last stderr bytes, if any
};

nlohmann::json to_json(const Result& r);

struct Summary {
  std::map<std::string, int> counts;                         // verdict -> n
  std::map<std::string, std::map<std::string, int>> by_interface;
  void add(const Result& r);
  int total() const;
  // Exit status rule: fail, timeout, crash, broken make a run unsuccessful.
  bool failed() const;
};

nlohmann::json to_json(const Summary& s);

}  // namespace aioh
