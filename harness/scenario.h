// What a scenario sees: the case row's parameters, the backend under test,
// the probed environment, a private scratch directory, and the ways to
// report: observe() an outcome that is compared with the row's expectation,
// check() an invariant (data intact, resources released), skip() or broken().
// A scenario is a plain function registered by name with the parameters it
// declares (AIOH_SCENARIO below); rows name it, e.g. scenario = "rw_one".
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
#include "environment.h"

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
  // string: allowed values (empty: any string); a choice "word=N" takes
  // "word=" followed by any 32-bit integer.
  std::vector<std::string> choices;
  char list_sep = 0;                         // string: a list of choices joined by this ('|' or ',')
  bool integer_items = false;                // string: a list_sep-joined list of integers in [min, max]
  // No default: absent means "not set", which the scenario tests with has();
  // reading it when the row did not give it is a bug in the scenario.
  bool optional = false;
  // No default either: every row must give it (checked at load).
  bool required = false;
};

namespace param {
ParamSpec integer(std::string name, int64_t def, std::string help, int64_t min = INT64_MIN, int64_t max = INT64_MAX);
ParamSpec boolean(std::string name, bool def, std::string help);
// Any string (a path, an errno name checked by the scenario, ...).
ParamSpec text(std::string name, std::string def, std::string help);
ParamSpec choice(std::string name, std::string def, std::vector<std::string> choices, std::string help);
// A `sep`-joined list of choices ("HIPRI|DSYNC", "good,null,good"); "" is allowed when def is "".
ParamSpec list(std::string name, std::string def, char sep, std::vector<std::string> choices, std::string help);
// Without a default (see ParamSpec::optional).
ParamSpec optional_integer(std::string name, std::string help, int64_t min = INT64_MIN, int64_t max = INT64_MAX);
ParamSpec optional_choice(std::string name, std::vector<std::string> choices, std::string help);
// Without a default, and every row must give it (see ParamSpec::required).
ParamSpec required_choice(std::string name, std::vector<std::string> choices, std::string help);
// A `sep`-joined list of integers in [min, max] ("2048,2048").
ParamSpec optional_integers(std::string name, char sep, std::string help, int64_t min, int64_t max);
// A scenario that takes no parameters: AIOH_SCENARIO(name, aioh::param::none).
struct None {};
inline constexpr None none{};

// Bounds shared by many declarations: what a scenario may allocate for one
// scratch file or one buffer, and the longest wait a row may ask for (a
// case's watchdog is seconds, not hours).
inline constexpr int64_t kMaxFileSize = int64_t{1} << 30;
inline constexpr int64_t kMaxBufferSize = int64_t{64} << 20;
inline constexpr int64_t kMaxMs = 600'000;
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
  // `decl` supplies the declared defaults and types.
  CaseContext(const std::map<std::string, Param>& params, Backend& be,
              const Environment& env, std::string scratch, Reporter& rep,
              const ScenarioDecl* decl = nullptr)
      : params_(params), be_(be), env_(env), scratch_(std::move(scratch)),
        rep_(rep), decl_(decl) {}

  Backend& backend() { return be_; }
  const Environment& env() const { return env_; }
  const std::string& scratch_dir() const { return scratch_; }

  // Row parameters; absent ones take the declared default. Reading a name
  // the scenario does not declare, or as another type than declared, is a
  // bug in the scenario: the case is broken.
  int64_t num(const std::string& key) const;
  bool flag(const std::string& key) const;
  std::string str(const std::string& key) const;
  // Whether the row itself gave the (declared) parameter.
  bool has(const std::string& key) const;

  // An outcome the row's expectation is compared with, in order.
  void observe(const Outcome& o);
  // The same, with how long the observed call took (Observation::elapsed_ms);
  // scenarios/wait_timing.h times waits and checks their promptness.
  void observe(const Outcome& o, double elapsed_ms);
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
  const Param& lookup(const std::string& key, ParamSpec::Type as) const;
};

using ScenarioFn = std::function<void(CaseContext&)>;

struct ScenarioDecl {
  std::string name;
  ScenarioFn fn;
  std::vector<ParamSpec> params;
  const ParamSpec* find_param(std::string_view key) const;
};

// The declarations of AIOH_SCENARIO: param::none, or one or more ParamSpecs.
inline std::vector<ParamSpec> param_list(param::None) { return {}; }
template <class... Rest>
std::vector<ParamSpec> param_list(ParamSpec first, Rest... rest) {
  return {std::move(first), ParamSpec(std::move(rest))...};
}

// Aborts (at static-init time, so no binary with a bad declaration runs) on
// a duplicate scenario or parameter name, or a default its own declaration
// refuses.
void register_scenario(std::string name, ScenarioFn fn, std::vector<ParamSpec> params);
const ScenarioFn* find_scenario(std::string_view name);
const ScenarioDecl* find_scenario_decl(std::string_view name);
std::vector<std::string> scenario_names();

// Registers a scenario at static-init time with its parameter declarations:
//   AIOH_SCENARIO(kaio_submit_args,
//                 aioh::param::integer("nr", 1, "iocbs passed to io_submit", -1, 64),
//                 aioh::param::choice("ctx", "ok", {"ok", "bad", "destroyed"}, "the context")) {
//     ... ctx.num("nr") ...
//   }
// or AIOH_SCENARIO(name, aioh::param::none) for one without parameters. The
// declarations are required: AIOH_SCENARIO(name) does not compile.
#define AIOH_SCENARIO(name, first_decl, ...)                                          \
  static void aioh_scenario_##name(::aioh::CaseContext& ctx);                         \
  static const bool aioh_registered_##name = [] {                                     \
    ::aioh::register_scenario(#name, aioh_scenario_##name,                            \
                              ::aioh::param_list(first_decl __VA_OPT__(, ) __VA_ARGS__)); \
    return true;                                                                      \
  }();                                                                                \
  static void aioh_scenario_##name(::aioh::CaseContext& ctx)

// A parameter's list split at `sep` ("SQPOLL|SQ_AFF", "0,2-5"): its fields
// in order; a trailing separator ends the list (no empty field after it).
inline std::vector<std::string> split_fields(const std::string& s, char sep) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos < s.size();) {
    size_t end = s.find(sep, pos);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

}  // namespace aioh
