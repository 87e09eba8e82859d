// Names for phases and channels, and the textual form of an Outcome used in
// tables, output and comparisons.
#include "outcome.h"

#include "errno_names.h"
#include "name_table.h"

namespace aioh {

namespace {

constexpr Named<Phase> kPhaseNames[] = {
    {Phase::open, "open"}, {Phase::setup, "setup"}, {Phase::submit, "submit"}, {Phase::wait, "wait"},
    {Phase::completion, "completion"}, {Phase::cancel, "cancel"}, {Phase::teardown, "teardown"}};

constexpr Named<Channel> kChannelNames[] = {
    {Channel::ret, "return"}, {Channel::errno_, "errno"}, {Channel::io_event_res, "io_event.res"},
    {Channel::aio_error, "aio_error"}, {Channel::aio_return, "aio_return"}, {Channel::cqe_res, "cqe->res"}};

}  // namespace

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
