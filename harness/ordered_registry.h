// The one shape both self-registering lists share: the interfaces
// (backend.cc, AIOH_BACKEND) and the fault layers (faults/fault.cc,
// AIOH_FAULT_LAYER). Entries arrive at static-init time in whatever order
// the linker runs them; the list is kept sorted by (order, name), so every
// consumer sees the same stable order. An entry has `name` and `order`.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace aioh {

template <class Entry>
class OrderedRegistry {
 public:
  // The entry's position in the stable order, -1 when there is none.
  int index_of(std::string_view name) const {
    for (size_t i = 0; i < entries_.size(); i++)
      if (entries_[i].name == name) return static_cast<int>(i);
    return -1;
  }
  const Entry* find(std::string_view name) const {
    int i = index_of(name);
    return i < 0 ? nullptr : &entries_[static_cast<size_t>(i)];
  }
  // A second entry of the same name, or an incomplete one (`complete`
  // false: it lacks the fields `needs` names), aborts; `kind` names it.
  void add(Entry e, bool complete, const char* kind, const char* needs) {
    if (find(e.name) || !complete) {
      fprintf(stderr, "harness: %s '%.*s' registered twice or without %s\n", kind, static_cast<int>(e.name.size()),
              e.name.data(), needs);
      abort();
    }
    auto at = std::upper_bound(entries_.begin(), entries_.end(), e, [](const Entry& a, const Entry& b) {
      return a.order != b.order ? a.order < b.order : a.name < b.name;
    });
    entries_.insert(at, std::move(e));
  }
  void remove(std::string_view name) {
    std::erase_if(entries_, [&](const Entry& e) { return e.name == name; });
  }
  const std::vector<Entry>& all() const { return entries_; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (auto& e : entries_) out.emplace_back(e.name);
    return out;
  }

 private:
  std::vector<Entry> entries_;
};

}  // namespace aioh
