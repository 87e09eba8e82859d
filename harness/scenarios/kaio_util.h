// Helpers for the kernel-AIO/libaio scenario families (kaio_*.cc,
// libaio_fastpath.cc): reach the raw calls of the backend under test, make
// memory that faults, and end a blocking call with a timer signal (the only
// way to learn that a call blocks is to interrupt it).
#pragma once

#include <sys/mman.h>
#include <signal.h>
#include <time.h>

#include <atomic>
#include <string>

#include "backends/aio_iocb.h"
#include "common.h"
#include "scenario.h"
#include "timespec.h"

namespace aioh::kaio {

// The scenario runs on kernel-aio or libaio only; anything else is a table
// error, reported as broken rather than guessed at.
inline AioBackendBase& aio(CaseContext& ctx) {
  AioBackendBase* b = as_aio_backend(ctx.backend());
  if (!b) ctx.broken("scenario needs the kernel-aio or libaio backend");
  return *b;
}

// io_setup when it is not what the row tests (scn::setup_or_broken: one
// retry under the settings lock).
inline void setup_or_broken(CaseContext& ctx, unsigned entries = 64) {
  SetupParams p;
  p.entries = entries;
  scn::setup_or_broken(ctx, p);
}

// One page that faults on any access; unmapped when the scenario ends.
class FaultPage {
 public:
  FaultPage() {
    p_ = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  ~FaultPage() {
    if (p_ != MAP_FAILED) munmap(p_, 4096);
  }
  void* get() const { return p_ == MAP_FAILED ? nullptr : p_; }

 private:
  void* p_;
};

// SIGALRM after `ms` milliseconds, with a handler that counts deliveries.
// `restart` installs it with SA_RESTART. The old action is restored and the
// timer deleted when the scenario leaves.
class SignalTimer {
 public:
  static inline std::atomic<int> fired{0};
  explicit SignalTimer(long ms, bool restart = false) {
    fired = 0;
    struct sigaction sa {};
    sa.sa_handler = [](int) { fired.fetch_add(1); };
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &old_);
    sigevent se{};
    se.sigev_notify = SIGEV_SIGNAL;
    se.sigev_signo = SIGALRM;
    ok_ = timer_create(CLOCK_MONOTONIC, &se, &timer_) == 0;
    itimerspec it{};
    it.it_value = ms_to_timespec(ms);
    if (ok_) ok_ = timer_settime(timer_, 0, &it, nullptr) == 0;
  }
  ~SignalTimer() {
    if (ok_) timer_delete(timer_);
    sigaction(SIGALRM, &old_, nullptr);
  }
  bool ok() const { return ok_; }

 private:
  struct sigaction old_ {};
  timer_t timer_{};
  bool ok_ = false;
};

inline long elapsed_ms(const timespec& a, const timespec& b) {
  return (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
}

inline timespec now_mono() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t;
}

}  // namespace aioh::kaio
