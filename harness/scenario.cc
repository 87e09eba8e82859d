// The scenario registry and the CaseContext a scenario reports through.
#include "scenario.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "errno_names.h"
#include "pattern.h"
#include "reporter.h"

namespace aioh {
namespace {
std::map<std::string, ScenarioDecl, std::less<>>& registry() {
  static std::map<std::string, ScenarioDecl, std::less<>> r;
  return r;
}
}  // namespace

namespace param {
namespace {
ParamSpec make(std::string name, ParamSpec::Type type, Param def, std::string help) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = type;
  p.def = std::move(def);
  p.help = std::move(help);
  return p;
}
}  // namespace

ParamSpec integer(std::string name, int64_t def, std::string help, int64_t min, int64_t max) {
  ParamSpec p = make(std::move(name), ParamSpec::Type::integer, def, std::move(help));
  p.min = min;
  p.max = max;
  return p;
}
ParamSpec boolean(std::string name, bool def, std::string help) {
  return make(std::move(name), ParamSpec::Type::boolean, def, std::move(help));
}
ParamSpec text(std::string name, std::string def, std::string help) {
  return make(std::move(name), ParamSpec::Type::string, std::move(def), std::move(help));
}
ParamSpec choice(std::string name, std::string def, std::vector<std::string> choices, std::string help) {
  ParamSpec p = make(std::move(name), ParamSpec::Type::string, std::move(def), std::move(help));
  p.choices = std::move(choices);
  return p;
}
ParamSpec list(std::string name, std::string def, char sep, std::vector<std::string> choices, std::string help) {
  ParamSpec p = choice(std::move(name), std::move(def), std::move(choices), std::move(help));
  p.list_sep = sep;
  return p;
}
ParamSpec optional_integer(std::string name, std::string help, int64_t min, int64_t max) {
  ParamSpec p = integer(std::move(name), 0, std::move(help), min, max);
  p.optional = true;
  return p;
}
ParamSpec optional_choice(std::string name, std::vector<std::string> choices, std::string help) {
  ParamSpec p = choice(std::move(name), "", std::move(choices), std::move(help));
  p.optional = true;
  return p;
}
ParamSpec required_choice(std::string name, std::vector<std::string> choices, std::string help) {
  ParamSpec p = choice(std::move(name), "", std::move(choices), std::move(help));
  p.required = true;
  return p;
}
ParamSpec optional_integers(std::string name, char sep, std::string help, int64_t min, int64_t max) {
  ParamSpec p = list(std::move(name), "", sep, {}, std::move(help));
  p.integer_items = true;
  p.min = min;
  p.max = max;
  p.optional = true;
  return p;
}
}  // namespace param

std::string param_type_name(ParamSpec::Type t) {
  switch (t) {
    case ParamSpec::Type::boolean: return "boolean";
    case ParamSpec::Type::integer: return "integer";
    case ParamSpec::Type::string: return "string";
  }
  return "?";
}

namespace {
bool is_int32(std::string_view s) {
  int32_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

// `choice` itself, or a "word=N" choice and "word=<integer>".
bool matches_choice(const std::string& choice, const std::string& v) {
  if (choice == v) return true;
  if (choice.size() < 2 || choice.compare(choice.size() - 2, 2, "=N") != 0) return false;
  size_t prefix = choice.size() - 1;  // through '='
  return v.size() > prefix && v.compare(0, prefix, choice, 0, prefix) == 0 && is_int32(std::string_view(v).substr(prefix));
}
}  // namespace

std::string check_param(const ParamSpec& spec, const Param& value) {
  auto one_of = [&](const std::string& v) {
    return spec.choices.empty() ||
           std::any_of(spec.choices.begin(), spec.choices.end(), [&](auto& c) { return matches_choice(c, v); });
  };
  auto choices = [&] {
    std::string out;
    for (auto& c : spec.choices) out += (out.empty() ? "" : ", ") + c;
    return out;
  };
  switch (spec.type) {
    case ParamSpec::Type::boolean:
      return std::holds_alternative<bool>(value) ? "" : "must be a boolean";
    case ParamSpec::Type::integer: {
      auto* v = std::get_if<int64_t>(&value);
      if (!v) return "must be an integer";
      if (*v < spec.min || *v > spec.max)
        return fmt::format("{} is out of range [{}, {}]", *v, spec.min, spec.max);
      return "";
    }
    case ParamSpec::Type::string: {
      auto* v = std::get_if<std::string>(&value);
      if (!v) return "must be a string";
      if (!spec.list_sep) return one_of(*v) ? "" : fmt::format("'{}' is not one of: {}", *v, choices());
      if (v->empty()) return spec.integer_items ? "must name at least one integer" : "";
      size_t start = 0;
      for (;;) {
        size_t end = v->find(spec.list_sep, start);
        std::string item = v->substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (spec.integer_items) {
          int64_t n = 0;
          auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
          if (item.empty() || ec != std::errc() || p != item.data() + item.size())
            return fmt::format("'{}' (in '{}') is not an integer", item, *v);
          if (n < spec.min || n > spec.max)
            return fmt::format("{} (in '{}') is out of range [{}, {}]", n, *v, spec.min, spec.max);
        } else if (!one_of(item)) {
          return fmt::format("'{}' (in '{}') is not one of: {}", item, *v, choices());
        }
        if (end == std::string::npos) return "";
        start = end + 1;
      }
    }
  }
  return "unknown parameter type";
}

const ParamSpec* ScenarioDecl::find_param(std::string_view key) const {
  for (auto& p : params)
    if (p.name == key) return &p;
  return nullptr;
}

void register_scenario(std::string name, ScenarioFn fn, std::vector<ParamSpec> params) {
  auto refuse = [&](const std::string& what) {
    fmt::print(stderr, "harness: scenario '{}' is declared wrongly: {}\n", name, what);
    abort();
  };
  if (registry().count(name)) refuse("registered twice");
  std::set<std::string> seen;
  for (auto& p : params) {
    if (p.name.empty() || p.help.empty()) refuse("a parameter without a name or a meaning");
    if (!seen.insert(p.name).second) refuse(fmt::format("parameter '{}' declared twice", p.name));
    if (p.min > p.max) refuse(fmt::format("parameter '{}' has an empty range", p.name));
    if (auto why = p.optional || p.required ? std::string() : check_param(p, p.def); !why.empty())
      refuse(fmt::format("the default of parameter '{}' {}", p.name, why));
  }
  registry()[name] = ScenarioDecl{name, std::move(fn), std::move(params)};
}

const ScenarioDecl* find_scenario_decl(std::string_view name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

const ScenarioFn* find_scenario(std::string_view name) {
  auto* d = find_scenario_decl(name);
  return d ? &d->fn : nullptr;
}

std::vector<std::string> scenario_names() {
  std::vector<std::string> v;
  for (auto& [k, _] : registry()) v.push_back(k);
  return v;
}

// The row's value (checked against the declaration at load), else the
// declared default. Reading a name the scenario does not declare, or as
// another type, is a bug in the scenario: the case is broken.
const Param& CaseContext::lookup(const std::string& key, ParamSpec::Type as) const {
  const ParamSpec* spec = decl_ ? decl_->find_param(key) : nullptr;
  if (!spec) throw ScenarioExit{ScenarioExit::broken, "scenario reads parameter '" + key + "' it does not declare"};
  if (spec->type != as)
    throw ScenarioExit{ScenarioExit::broken, fmt::format("scenario reads parameter '{}' as {} but declares it {}", key,
                                                         param_type_name(as), param_type_name(spec->type))};
  auto it = params_.find(key);
  if (it != params_.end()) return it->second;
  if (spec->optional || spec->required)
    throw ScenarioExit{ScenarioExit::broken, "scenario reads optional parameter '" + key + "' the row did not give"};
  return spec->def;
}

int64_t CaseContext::num(const std::string& key) const {
  return std::get<int64_t>(lookup(key, ParamSpec::Type::integer));
}

bool CaseContext::flag(const std::string& key) const { return std::get<bool>(lookup(key, ParamSpec::Type::boolean)); }

std::string CaseContext::str(const std::string& key) const {
  return std::get<std::string>(lookup(key, ParamSpec::Type::string));
}

bool CaseContext::has(const std::string& key) const {
  if (!decl_ || !decl_->find_param(key))
    throw ScenarioExit{ScenarioExit::broken, "scenario asks for parameter '" + key + "' it does not declare"};
  return params_.count(key) != 0;
}

void CaseContext::observe(const Outcome& o) { rep_.observe(o); }
void CaseContext::observe(const Outcome& o, double elapsed_ms) { rep_.observe(o, elapsed_ms); }

bool CaseContext::check(bool ok, const std::string& what) {
  if (!ok) rep_.fail(what);
  return ok;
}

void CaseContext::skip(const std::string& reason) {
  throw ScenarioExit{ScenarioExit::skip, reason};
}

void CaseContext::broken(const std::string& reason) {
  throw ScenarioExit{ScenarioExit::broken, reason};
}

void CaseContext::note(const std::string& text) { rep_.note(text); }

int CaseContext::scratch_file(const std::string& name, size_t size, int flags) {
  std::string path = scratch_ + "/" + name;
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) broken("cannot create scratch file " + path + ": " + errno_name(errno));
  std::vector<uint8_t> chunk(1 << 16);
  for (size_t off = 0; off < size; off += chunk.size()) {
    size_t n = std::min(chunk.size(), size - off);
    fill_pattern(chunk.data(), n, kFileSeed, off);
    ssize_t w = pwrite(fd, chunk.data(), n, off);
    if (w != static_cast<ssize_t>(n))
      broken(fmt::format("cannot fill scratch file {}: pwrite of {} bytes at {} gave {}", path, n, off,
                         w < 0 ? errno_name(errno) : std::to_string(w)));
  }
  write_back(fd);
  ::close(fd);
  // The caller's flags decide the mode (O_RDONLY, O_WRONLY, O_DIRECT, ...);
  // -1 with errno is returned so an open-phase error can be observed.
  return ::open(path.c_str(), flags | O_CLOEXEC);
}

}  // namespace aioh
