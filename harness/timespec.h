// The one millisecond-to-timespec conversion: waits, timeouts and timers are
// written in milliseconds in rows and scenarios, and the calls take a
// timespec (or io_uring's __kernel_timespec, itimerspec's it_value).
#pragma once

#include <time.h>

#include <cstdint>

namespace aioh {

template <class T = timespec>
constexpr T ms_to_timespec(int64_t ms) {
  T t{};
  t.tv_sec = ms / 1000;
  t.tv_nsec = (ms % 1000) * 1000000;
  return t;
}

}  // namespace aioh
