// Reading the probed facts (see environment.h): a fact read as a flag, a
// number or text, whatever type the probe stored it with.
#include "environment.h"

namespace aioh {

bool Environment::flag(const std::string& name) const {
  auto it = facts.find(name);
  if (it == facts.end()) return false;
  if (auto* b = std::get_if<bool>(&it->second)) return *b;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v != 0;
  return !std::get<std::string>(it->second).empty();
}

std::optional<int64_t> Environment::number(const std::string& name) const {
  auto it = facts.find(name);
  if (it == facts.end()) return std::nullopt;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
  if (auto* b = std::get_if<bool>(&it->second)) return *b ? 1 : 0;
  return std::nullopt;
}

std::string Environment::text(const std::string& name) const {
  auto it = facts.find(name);
  if (it == facts.end()) return "";
  if (auto* s = std::get_if<std::string>(&it->second)) return *s;
  if (auto* v = std::get_if<int64_t>(&it->second)) return std::to_string(*v);
  return std::get<bool>(it->second) ? "true" : "false";
}

std::string Environment::note(const std::string& name) const {
  auto it = info.find(name);
  return it == info.end() ? "" : it->second;
}

}  // namespace aioh
