// What a scenario sees: the case row's parameters, the backend under test,
// the probed environment, a private scratch directory, and the ways to
// report: observe() an outcome that is compared with the row's expectation,
// check() an invariant (data intact, resources released), skip() or broken().
// A scenario is a plain function registered by name; rows name it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "backend.h"
#include "probe.h"

namespace aioh {

using Param = std::variant<bool, int64_t, std::string>;

// Thrown by skip()/broken() to leave the scenario; the runner catches it.
struct ScenarioExit {
  enum Kind { skip, broken } kind;
  std::string reason;
};

class Reporter;  // runner-side sink; one JSON line per event

class CaseContext {
 public:
  CaseContext(const std::map<std::string, Param>& params, Backend& be,
              const Environment& env, std::string scratch, Reporter& rep)
      : params_(params), be_(be), env_(env), scratch_(std::move(scratch)),
        rep_(rep) {}

  Backend& backend() { return be_; }
  const Environment& env() const { return env_; }
  const std::string& scratch_dir() const { return scratch_; }

  // Row parameters, with defaults when absent.
  int64_t num(const std::string& key, int64_t def = 0) const;
  bool flag(const std::string& key, bool def = false) const;
  std::string str(const std::string& key, const std::string& def = "") const;
  bool has(const std::string& key) const { return params_.count(key) != 0; }

  // An outcome the row's expectation is compared with, in order.
  void observe(const Outcome& o);
  // An invariant; a false one fails the case with `what`.
  bool check(bool ok, const std::string& what);
  // Leave the scenario.
  [[noreturn]] void skip(const std::string& reason);
  [[noreturn]] void broken(const std::string& reason);
  // Free-form note carried into the result (e.g. which fallback ran).
  void note(const std::string& text);

  // A scratch file of `size` bytes filled with the offset-stamped pattern
  // (pattern.h), opened with `flags`. Closed and removed with the scratch dir.
  int scratch_file(const std::string& name, size_t size, int flags);

 private:
  const std::map<std::string, Param>& params_;
  Backend& be_;
  const Environment& env_;
  std::string scratch_;
  Reporter& rep_;
};

using ScenarioFn = std::function<void(CaseContext&)>;

void register_scenario(std::string name, ScenarioFn fn);
const ScenarioFn* find_scenario(std::string_view name);
std::vector<std::string> scenario_names();

// Registers a scenario at static-init time:
//   AIOH_SCENARIO(rw_bad_fd) { ... ctx ... }
#define AIOH_SCENARIO(name)                                              \
  static void aioh_scenario_##name(::aioh::CaseContext& ctx);             \
  static const bool aioh_registered_##name = [] {                         \
    ::aioh::register_scenario(#name, aioh_scenario_##name);               \
    return true;                                                          \
  }();                                                                    \
  static void aioh_scenario_##name(::aioh::CaseContext& ctx)

}  // namespace aioh
