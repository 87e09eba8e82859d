// Enumerators and their names as one table each (phases, channels, verdict
// classes), and the two lookups every such table needs, so a name is written
// once, next to its enumerator.
#pragma once

#include <optional>
#include <string_view>

namespace aioh {

template <class E>
struct Named {
  E value;
  std::string_view name;
};

// The name of `v` in `table`, "?" when it has no row.
template <class E, size_t N>
constexpr std::string_view name_in(const Named<E> (&table)[N], E v) {
  for (auto& row : table)
    if (row.value == v) return row.name;
  return "?";
}

// The enumerator named `s` in `table`, nullopt when none is.
template <class E, size_t N>
constexpr std::optional<E> value_in(const Named<E> (&table)[N], std::string_view s) {
  for (auto& row : table)
    if (row.name == s) return row.value;
  return std::nullopt;
}

}  // namespace aioh
