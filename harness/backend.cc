// The interface registry (see backend.h): adapters register themselves at
// static-init time, in whatever order the linker runs them; the list is kept
// sorted by catalog order so every consumer sees the same stable order.
#include "backend.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace aioh {
namespace {

std::vector<BackendEntry>& registry() {
  static std::vector<BackendEntry> r;
  return r;
}

}  // namespace

const BackendEntry* find_backend(std::string_view name) {
  for (auto& e : registry())
    if (e.name == name) return &e;
  return nullptr;
}

void register_backend(BackendEntry entry) {
  if (find_backend(entry.name) || !entry.make || !entry.available) {
    fprintf(stderr, "harness: interface '%.*s' registered twice or without make/available\n",
            static_cast<int>(entry.name.size()), entry.name.data());
    abort();
  }
  auto& r = registry();
  auto at = std::upper_bound(r.begin(), r.end(), entry, [](const BackendEntry& a, const BackendEntry& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  r.insert(at, std::move(entry));
}

void unregister_backend(std::string_view name) {
  std::erase_if(registry(), [&](const BackendEntry& e) { return e.name == name; });
}

const std::vector<BackendEntry>& backend_entries() { return registry(); }

std::vector<std::string> interface_names() {
  std::vector<std::string> out;
  for (auto& e : registry()) out.emplace_back(e.name);
  return out;
}

bool is_interface(std::string_view name) { return find_backend(name) != nullptr; }

int interface_index(std::string_view name) {
  auto& r = registry();
  for (size_t i = 0; i < r.size(); i++)
    if (r[i].name == name) return static_cast<int>(i);
  return -1;
}

std::unique_ptr<Backend> make_backend(std::string_view name) {
  const BackendEntry* e = find_backend(name);
  return e ? e->make() : nullptr;
}

void record_interface_availability(Environment& env) {
  for (auto& e : registry()) env.interfaces[std::string(e.name)] = e.available(env);
}

}  // namespace aioh
