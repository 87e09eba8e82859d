// The normalised outcome every backend returns: a value or an errno name, the
// channel that reported it and the phase it belongs to. Scenarios and the
// verdict logic only ever see this type, so no sign convention leaks above the
// backends (each backend checks its own convention before building one).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "name_table.h"

namespace aioh {

// Where in a request's life an outcome was observed.
enum class Phase { open, setup, submit, wait, completion, cancel, teardown };

// Which mechanism of the interface reported it.
enum class Channel {
  ret,           // the call's return value (liburing -errno, libaio -errno, counts)
  errno_,        // -1 from the call and errno (raw syscalls, glibc)
  io_event_res,  // struct io_event.res (kernel AIO, libaio)
  aio_error,     // glibc aio_error()
  aio_return,    // glibc aio_return()
  cqe_res,       // struct io_uring_cqe.res
};

// Every phase and channel in order with its name (--vocabulary lists them so).
inline constexpr Named<Phase> kPhaseNames[] = {
    {Phase::open, "open"}, {Phase::setup, "setup"}, {Phase::submit, "submit"}, {Phase::wait, "wait"},
    {Phase::completion, "completion"}, {Phase::cancel, "cancel"}, {Phase::teardown, "teardown"}};
inline constexpr Named<Channel> kChannelNames[] = {
    {Channel::ret, "return"}, {Channel::errno_, "errno"}, {Channel::io_event_res, "io_event.res"},
    {Channel::aio_error, "aio_error"}, {Channel::aio_return, "aio_return"}, {Channel::cqe_res, "cqe->res"}};
// An enumerator added without its row fails here, as a switch's -Wswitch would.
static_assert(names_every(kPhaseNames, Phase::teardown));
static_assert(names_every(kChannelNames, Channel::cqe_res));

std::string_view phase_name(Phase p);
std::string_view channel_name(Channel c);
std::optional<Phase> phase_from_name(std::string_view s);
std::optional<Channel> channel_from_name(std::string_view s);

struct Outcome {
  bool is_error = false;
  int err = 0;             // positive errno when is_error
  int64_t value = 0;       // when !is_error
  std::string sym;         // optional symbolic value, e.g. "AIO_NOTCANCELED"
  Channel channel = Channel::ret;
  Phase phase = Phase::submit;

  static Outcome error(int err, Channel c, Phase p) {
    Outcome o;
    o.is_error = true;
    o.err = err;
    o.channel = c;
    o.phase = p;
    return o;
  }
  static Outcome ok(int64_t v, Channel c, Phase p, std::string sym = {}) {
    Outcome o;
    o.value = v;
    o.sym = std::move(sym);
    o.channel = c;
    o.phase = p;
    return o;
  }

  // The token compared against expectations: errno name, symbol or value.
  std::string token() const;
  // "EBADF@submit", "4096@completion", "AIO_NOTCANCELED@cancel".
  std::string str() const;
};

}  // namespace aioh
