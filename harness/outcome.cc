// Names for phases and channels, and the textual form of an Outcome used in
// tables, output and comparisons.
#include "outcome.h"

#include "errno_names.h"

namespace aioh {

std::string_view phase_name(Phase p) {
  switch (p) {
    case Phase::open: return "open";
    case Phase::setup: return "setup";
    case Phase::submit: return "submit";
    case Phase::wait: return "wait";
    case Phase::completion: return "completion";
    case Phase::cancel: return "cancel";
    case Phase::teardown: return "teardown";
  }
  return "?";
}

std::optional<Phase> phase_from_name(std::string_view s) {
  for (Phase p : kPhases)
    if (phase_name(p) == s) return p;
  return std::nullopt;
}

std::string_view channel_name(Channel c) {
  switch (c) {
    case Channel::ret: return "return";
    case Channel::errno_: return "errno";
    case Channel::io_event_res: return "io_event.res";
    case Channel::aio_error: return "aio_error";
    case Channel::aio_return: return "aio_return";
    case Channel::cqe_res: return "cqe->res";
  }
  return "?";
}

std::optional<Channel> channel_from_name(std::string_view s) {
  for (Channel c : kChannels)
    if (channel_name(c) == s) return c;
  return std::nullopt;
}

std::string Outcome::token() const {
  if (is_error) return errno_name(err);
  if (!sym.empty()) return sym;
  return std::to_string(value);
}

std::string Outcome::str() const {
  return token() + "@" + std::string(phase_name(phase));
}

}  // namespace aioh
