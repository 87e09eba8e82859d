// Names for phases and channels, and the textual form of an Outcome used in
// tables, output and comparisons.
#include "outcome.h"

#include "errno_names.h"

namespace aioh {

std::string_view phase_name(Phase p) { return name_in(kPhaseNames, p); }
std::optional<Phase> phase_from_name(std::string_view s) { return value_in(kPhaseNames, s); }
std::string_view channel_name(Channel c) { return name_in(kChannelNames, c); }
std::optional<Channel> channel_from_name(std::string_view s) { return value_in(kChannelNames, s); }

std::string Outcome::token() const {
  if (is_error) return errno_name(err);
  if (!sym.empty()) return sym;
  return std::to_string(value);
}

std::string Outcome::str() const {
  return token() + "@" + std::string(phase_name(phase));
}

}  // namespace aioh
