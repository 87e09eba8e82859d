// The case tables: TOML files in cases/, one row per case. Loading validates
// everything a run depends on (keys, scenario names, interfaces, errno
// names, facts, duplicate ids, sources) and refuses the whole set with
// `file:line: what is wrong` on the first problem.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "expectation.h"
#include "faults/fault.h"
#include "probe.h"
#include "scenario.h"

namespace aioh {

struct LoadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "fact", "!fact", "fact OP value".
struct Predicate {
  std::string fact;
  std::string op;     // "" (truthy), "!", ==, !=, <, <=, >, >=
  std::string value;
  std::string text;
  bool eval(const Environment& env) const;
};

// Expectation per interface; key "all" is the default.
using ExpectMap = std::map<std::string, Expectation>;

struct WhenClause {
  Predicate pred;
  ExpectMap expect;
};

struct XFail {
  std::string reason;
  std::string ref;
  std::vector<std::string> interfaces;  // empty: all of the row's
  // `if`: the defect is expected only where this probed fact holds.
  std::optional<Predicate> cond;
};

// `fault.fails = { if, then, else }`: which syscall of a two-syscall target
// (`a|b`) the call must be the one failed, by a probed fact: `then` where
// the predicate holds, `else` where it does not. The readback must name it,
// so a library that switched syscalls without the probe seeing it fails.
struct FaultFails {
  Predicate pred;
  std::string then_name, else_name;
};

struct CaseRow {
  std::string id, area, scenario, source, doc, why;
  std::string file;
  int line = 0;
  std::vector<std::string> interfaces;
  std::map<std::string, Param> params;
  ExpectMap expect;
  std::vector<WhenClause> when;
  std::vector<std::string> requires_;
  std::optional<XFail> xfail;
  std::optional<double> timeout_s;
  // `fault = { layer, target, effect, trigger }` (faults/fault.h), validated at load.
  std::optional<faults::FaultSpec> fault;
  std::optional<FaultFails> fault_fails;
  // `targets`: selectors (targets/target.h target_selected); empty: the row
  // runs once per interface, in the scratch dir, without a target.
  std::vector<std::string> targets;
  // `exclusive = true`: the case runs alone (resources.h derives the rest).
  bool exclusive = false;

  std::string case_id() const { return area + "." + id; }
  // The expectation that applies on this interface in this environment.
  const Expectation* expectation_for(const std::string& iface, const Environment& env) const;
  bool xfail_applies(const std::string& iface) const;
};

// One row crossed with one interface.
struct CaseRun {
  const CaseRow* row;
  std::string interface;
  std::string id;  // area.case@interface[/target]
};

// The target a run is on: what follows "/" after the interface in its id
// ("" for a row without targets).
inline std::string run_target(const CaseRun& r) {
  auto at = r.id.find('@');
  auto slash = at == std::string::npos ? std::string::npos : r.id.find('/', at);
  return slash == std::string::npos ? std::string() : r.id.substr(slash + 1);
}

// The text of a regular file; a FIFO, a directory or a device (a link to
// /dev/zero) is refused without blocking, as is an unreadable file, with a
// LoadError naming the path and the errno. Case tables and --ids files.
std::string read_text_file(const std::string& path);

std::vector<CaseRow> load_case_file(const std::string& path);
// Every *.toml in dir, sorted by name; ids unique across files.
std::vector<CaseRow> load_case_dir(const std::string& dir);
// Cross rows with the chosen interfaces, in table order.
// A row with `targets` runs once per matching target in `targets` (names
// and kinds; default: targets/target.h default_targets()), its id suffixed
// with "/<target>" so `area.case@interface` stays the prefix for --filter.
struct Target;
std::vector<CaseRun> expand(const std::vector<CaseRow>& rows,
                            const std::vector<std::string>& interfaces);
std::vector<CaseRun> expand(const std::vector<CaseRow>& rows,
                            const std::vector<std::string>& interfaces,
                            const std::vector<Target>& targets);

}  // namespace aioh
