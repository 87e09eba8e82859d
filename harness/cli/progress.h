// Progress on stderr while a run lasts, for when stdout does not carry the
// table (JSON, JUnit or KTAP on stdout): how many cases ended of how many,
// the elapsed time, how many did not pass, and the cases still running. On
// a terminal one line is rewritten in place; otherwise (a log, a pipe,
// TERM=dumb) a line is printed every `period`. started() and finished() may
// be called from any thread and with several cases running at once, so a
// parallel scheduler reports through the same hook.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "result.h"

namespace aioh::cli {

class Progress {
 public:
  struct Style {
    bool live = false;            // rewrite one line ('\r'), else periodic lines
    bool announce_starts = false;  // -v: a line as each case starts (periodic mode)
    std::chrono::milliseconds period{15000};
  };
  Progress(FILE* out, size_t planned, Style style);
  ~Progress();  // stops the ticker and clears the live line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void started(const std::string& id);
  void finished(const Result& r);

  // The line as it would be printed now (also for tests).
  std::string line() const;

 private:
  using Clock = std::chrono::steady_clock;
  void tick();
  void print_locked(bool force);
  std::string line_locked(Clock::time_point now) const;

  FILE* out_;
  size_t planned_;
  Style style_;
  Clock::time_point start_ = Clock::now();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  size_t done_ = 0, bad_ = 0;
  std::map<std::string, Clock::time_point> running_;
  size_t shown_ = 0;  // width of the live line on screen
  Clock::time_point last_print_{};
  std::thread ticker_;
};

}  // namespace aioh::cli
