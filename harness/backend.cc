// The interface registry (see backend.h): adapters register themselves at
// static-init time; the list (an OrderedRegistry) is kept in catalog order.
#include "backend.h"

#include "ordered_registry.h"

namespace aioh {
namespace {

OrderedRegistry<BackendEntry>& registry() {
  static OrderedRegistry<BackendEntry> r;
  return r;
}

}  // namespace

const BackendEntry* find_backend(std::string_view name) { return registry().find(name); }

void register_backend(BackendEntry entry) {
  bool complete = entry.make && entry.available;
  registry().add(std::move(entry), complete, "interface", "make/available");
}

void unregister_backend(std::string_view name) { registry().remove(name); }

const std::vector<BackendEntry>& backend_entries() { return registry().all(); }

std::vector<std::string> interface_names() { return registry().names(); }

bool is_interface(std::string_view name) { return find_backend(name) != nullptr; }

int interface_index(std::string_view name) { return registry().index_of(name); }

std::unique_ptr<Backend> make_backend(std::string_view name) {
  const BackendEntry* e = find_backend(name);
  return e ? e->make() : nullptr;
}

void record_interface_availability(Environment& env) {
  for (auto& e : registry().all()) env.interfaces[std::string(e.name)] = e.available(env);
}

}  // namespace aioh
