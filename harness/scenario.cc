// The scenario registry and the CaseContext a scenario reports through.
#include "scenario.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include <fmt/format.h>

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
const ParamSpec none{};
}  // namespace param

std::string param_type_name(ParamSpec::Type t) {
  switch (t) {
    case ParamSpec::Type::boolean: return "boolean";
    case ParamSpec::Type::integer: return "integer";
    case ParamSpec::Type::string: return "string";
  }
  return "?";
}

std::string check_param(const ParamSpec& spec, const Param& value) {
  auto one_of = [&](const std::string& v) {
    return spec.choices.empty() || std::find(spec.choices.begin(), spec.choices.end(), v) != spec.choices.end();
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
      if (v->empty()) return "";
      size_t start = 0;
      for (;;) {
        size_t end = v->find(spec.list_sep, start);
        std::string item = v->substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (!one_of(item))
          return fmt::format("'{}' (in '{}') is not one of: {}", item, *v, choices());
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

void register_scenario(std::string name, ScenarioFn fn, std::vector<ParamSpec> params, bool declared) {
  std::erase_if(params, [](const ParamSpec& p) { return p.name.empty(); });  // param::none
  auto& d = registry()[name];
  d = ScenarioDecl{std::move(name), std::move(fn), std::move(params), declared};
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

// The row's value, else the declared default. A declared scenario reading a
// name it did not declare is a bug in the scenario: the case is broken.
const Param* CaseContext::lookup(const std::string& key) const {
  if (auto it = params_.find(key); it != params_.end()) return &it->second;
  if (decl_ && decl_->declared) {
    if (auto* p = decl_->find_param(key)) return &p->def;
    throw ScenarioExit{ScenarioExit::broken, "scenario reads parameter '" + key + "' it does not declare"};
  }
  return nullptr;
}

int64_t CaseContext::num(const std::string& key, int64_t def) const {
  const Param* p = lookup(key);
  if (!p) return def;
  if (auto* v = std::get_if<int64_t>(p)) return *v;
  if (auto* b = std::get_if<bool>(p)) return *b;
  return def;
}

bool CaseContext::flag(const std::string& key, bool def) const {
  const Param* p = lookup(key);
  if (!p) return def;
  if (auto* b = std::get_if<bool>(p)) return *b;
  if (auto* v = std::get_if<int64_t>(p)) return *v != 0;
  return def;
}

std::string CaseContext::str(const std::string& key, const std::string& def) const {
  const Param* p = lookup(key);
  if (!p) return def;
  if (auto* s = std::get_if<std::string>(p)) return *s;
  return def;
}

void CaseContext::observe(const Outcome& o) { rep_.observe(o); }

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
  if (fd < 0) broken("cannot create scratch file " + path + ": " + strerror(errno));
  std::vector<uint8_t> chunk(1 << 16);
  for (size_t off = 0; off < size; off += chunk.size()) {
    size_t n = std::min(chunk.size(), size - off);
    fill_pattern(chunk.data(), n, kFileSeed, off);
    if (pwrite(fd, chunk.data(), n, off) != static_cast<ssize_t>(n))
      broken("cannot fill scratch file " + path);
  }
  fsync(fd);
  ::close(fd);
  // The caller's flags decide the mode (O_RDONLY, O_WRONLY, O_DIRECT, ...);
  // -1 with errno is returned so an open-phase error can be observed.
  return ::open(path.c_str(), flags | O_CLOEXEC);
}

}  // namespace aioh
