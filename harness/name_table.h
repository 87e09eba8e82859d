// Enumerators and their names as one table each (phases, channels, verdict
// classes), the two lookups every such table needs, and the check that a
// table names every enumerator, so a name is written once, next to its enumerator.
#pragma once

#include <cstddef>
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

// Whether `table` has one row per enumerator from 0 to `last`, in order
// (for a static_assert next to the table).
template <class E, size_t N>
constexpr bool names_every(const Named<E> (&table)[N], E last) {
  if (N != static_cast<size_t>(last) + 1) return false;
  for (size_t i = 0; i < N; i++)
    if (static_cast<size_t>(table[i].value) != i || table[i].name.empty()) return false;
  return true;
}

}  // namespace aioh
