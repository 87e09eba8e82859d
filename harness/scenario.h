// What a scenario sees: the case row's parameters, the backend under test,
// the probed environment, a private scratch directory, and the ways to
// report: observe() an outcome that is compared with the row's expectation,
// check() an invariant (data intact, resources released), skip() or broken().
// A scenario is a plain function registered by name; rows name it.
#pragma once

#include <cstddef>
#include <climits>
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

// One parameter a scenario declares: its name, type, default, what it means,
// and what values it takes. Rows are checked against the declarations at
// load time (an unknown name, a wrong type, a value out of range or not among
// the choices is refused with file:line), and `harness --list-scenarios`
// shows them.
struct ParamSpec {
  enum class Type { boolean, integer, string };
  std::string name;
  Type type = Type::integer;
  Param def;
  std::string help;
  int64_t min = INT64_MIN, max = INT64_MAX;  // integer: the allowed range
  std::vector<std::string> choices;          // string: allowed values (empty: any string)
  char list_sep = 0;                         // string: a list of choices joined by this ('|' or ',')
};

namespace param {
ParamSpec integer(std::string name, int64_t def, std::string help, int64_t min = INT64_MIN, int64_t max = INT64_MAX);
ParamSpec boolean(std::string name, bool def, std::string help);
// Any string (a path, an errno name checked by the scenario, ...).
ParamSpec text(std::string name, std::string def, std::string help);
ParamSpec choice(std::string name, std::string def, std::vector<std::string> choices, std::string help);
// A `sep`-joined list of choices ("HIPRI|DSYNC", "good,null,good"); "" is allowed when def is "".
ParamSpec list(std::string name, std::string def, char sep, std::vector<std::string> choices, std::string help);
// A scenario that takes no parameters: AIOH_SCENARIO(name, aioh::param::none).
extern const ParamSpec none;
}  // namespace param

// "" when `value` is acceptable for `spec`, else what is wrong.
std::string check_param(const ParamSpec& spec, const Param& value);
std::string param_type_name(ParamSpec::Type t);

// Thrown by skip()/broken() to leave the scenario; the runner catches it.
struct ScenarioExit {
  enum Kind { skip, broken } kind;
  std::string reason;
};

class Reporter;  // runner-side sink; one JSON line per event

struct ScenarioDecl;

class CaseContext {
 public:
  // `decl` (when given) supplies the declared defaults, and reading a
  // parameter the scenario did not declare is broken.
  CaseContext(const std::map<std::string, Param>& params, Backend& be,
              const Environment& env, std::string scratch, Reporter& rep,
              const ScenarioDecl* decl = nullptr)
      : params_(params), be_(be), env_(env), scratch_(std::move(scratch)),
        rep_(rep), decl_(decl) {}

  Backend& backend() { return be_; }
  const Environment& env() const { return env_; }
  const std::string& scratch_dir() const { return scratch_; }

  // Row parameters; absent ones take the declared default (or `def` for a
  // scenario that declares none).
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
  const ScenarioDecl* decl_;
  const Param* lookup(const std::string& key) const;
};

using ScenarioFn = std::function<void(CaseContext&)>;

struct ScenarioDecl {
  std::string name;
  ScenarioFn fn;
  std::vector<ParamSpec> params;
  // false: registered without declarations (rows are not checked).
  bool declared = false;
  const ParamSpec* find_param(std::string_view key) const;
};

void register_scenario(std::string name, ScenarioFn fn, std::vector<ParamSpec> params = {}, bool declared = false);
const ScenarioFn* find_scenario(std::string_view name);
const ScenarioDecl* find_scenario_decl(std::string_view name);
std::vector<std::string> scenario_names();

// Registers a scenario at static-init time with its parameter declarations:
//   AIOH_SCENARIO(kaio_submit_args,
//                 aioh::param::integer("nr", 1, "iocbs passed to io_submit", -1, 64),
//                 aioh::param::choice("ctx", "good", {"good", "bad", "destroyed"}, "the context")) {
//     ... ctx.num("nr") ...
//   }
#define AIOH_SCENARIO(name, ...)                                                     \
  static void aioh_scenario_##name(::aioh::CaseContext& ctx);                         \
  static const bool aioh_registered_##name = [] {                                     \
    ::aioh::register_scenario(#name, aioh_scenario_##name,                            \
                              std::vector<::aioh::ParamSpec>{__VA_ARGS__},            \
                              false __VA_OPT__(|| true));                             \
    return true;                                                                      \
  }();                                                                                \
  static void aioh_scenario_##name(::aioh::CaseContext& ctx)

}  // namespace aioh
