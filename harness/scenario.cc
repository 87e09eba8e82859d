// The scenario registry and the CaseContext a scenario reports through.
#include "scenario.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "pattern.h"
#include "reporter.h"

namespace aioh {
namespace {
std::map<std::string, ScenarioFn, std::less<>>& registry() {
  static std::map<std::string, ScenarioFn, std::less<>> r;
  return r;
}
}  // namespace

void register_scenario(std::string name, ScenarioFn fn) {
  registry()[std::move(name)] = std::move(fn);
}

const ScenarioFn* find_scenario(std::string_view name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

std::vector<std::string> scenario_names() {
  std::vector<std::string> v;
  for (auto& [k, _] : registry()) v.push_back(k);
  return v;
}

int64_t CaseContext::num(const std::string& key, int64_t def) const {
  auto it = params_.find(key);
  if (it == params_.end()) return def;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
  if (auto* b = std::get_if<bool>(&it->second)) return *b;
  return def;
}

bool CaseContext::flag(const std::string& key, bool def) const {
  auto it = params_.find(key);
  if (it == params_.end()) return def;
  if (auto* b = std::get_if<bool>(&it->second)) return *b;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v != 0;
  return def;
}

std::string CaseContext::str(const std::string& key, const std::string& def) const {
  auto it = params_.find(key);
  if (it == params_.end()) return def;
  if (auto* s = std::get_if<std::string>(&it->second)) return *s;
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
