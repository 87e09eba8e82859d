// The vocabulary (see vocabulary.h): lookups over its tables.
#include "vocabulary.h"

#include "name_table.h"

namespace aioh {

const VerdictDef& verdict_def(Verdict v) {
  for (auto& d : kVerdictDefs)
    if (d.verdict == v) return d;
  return kVerdictDefs[0];  // unreachable: every enumerator has a row
}

std::string_view verdict_name(Verdict v) { return verdict_def(v).name; }

std::optional<Verdict> verdict_from_name(std::string_view name) {
  for (auto& d : kVerdictDefs)
    if (d.name == name) return d.verdict;
  return std::nullopt;
}

namespace {

constexpr Named<VerdictClass> kClassNames[] = {
    {VerdictClass::good, "good"}, {VerdictClass::bad, "bad"}, {VerdictClass::neutral, "neutral"}};
static_assert(names_every(kClassNames, VerdictClass::neutral));

}  // namespace

std::string_view verdict_class_name(VerdictClass c) { return name_in(kClassNames, c); }

}  // namespace aioh
