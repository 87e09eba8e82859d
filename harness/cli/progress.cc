// The progress line (see progress.h).
#include "cli/progress.h"

#include <fmt/format.h>

#include "cli/terminal.h"
#include "vocabulary.h"

namespace aioh::cli {

Progress::Progress(FILE* out, size_t planned, Style style) : out_(out), planned_(planned), style_(style) {
  ticker_ = std::thread([this] { tick(); });
}

Progress::~Progress() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  ticker_.join();
  std::lock_guard l(mu_);
  if (style_.live && shown_) {
    fmt::print(out_, "\r{:{}}\r", "", shown_);
    fflush(out_);
  }
}

void Progress::started(const std::string& id) {
  std::lock_guard l(mu_);
  running_[id] = Clock::now();
  if (style_.announce_starts && !style_.live) {
    fmt::print(out_, "start: {}\n", id);
    fflush(out_);
  }
  if (style_.live) print_locked(false);
}

void Progress::finished(const Result& r) {
  std::lock_guard l(mu_);
  running_.erase(r.id);
  ++done_;
  if (verdict_def(r.verdict).fails_run) ++bad_;
  // Live: the next start (or the ticker) shows it, with what runs then.
}

std::string Progress::line() const {
  std::lock_guard l(mu_);
  return line_locked(Clock::now());
}

std::string Progress::line_locked(Clock::time_point now) const {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - start_).count();
  int w = static_cast<int>(std::to_string(planned_).size());
  std::string s = fmt::format("[{:>{}}/{}] {}:{:02} elapsed", done_, w, planned_, secs / 60, secs % 60);
  if (bad_) s += fmt::format(", {} not passed", bad_);
  if (running_.empty()) return s;
  s += ", running: ";
  size_t n = 0;
  for (auto& [id, since] : running_) {
    if (n == 3) {
      s += fmt::format(", +{} more", running_.size() - 3);
      break;
    }
    double ran = std::chrono::duration<double>(now - since).count();
    s += fmt::format("{}{} ({:.1f} s)", n++ ? ", " : "", id, ran);
  }
  return s;
}

// Live: at most ten rewrites a second (force: now). Periodic: one line per
// period, from the ticker.
void Progress::print_locked(bool force) {
  auto now = Clock::now();
  if (!force && now - last_print_ < std::chrono::milliseconds(100)) return;
  last_print_ = now;
  std::string s = line_locked(now);
  if (style_.live) {
    size_t width = static_cast<size_t>(terminal_width(fileno(out_))) - 1;
    if (s.size() > width) s = s.substr(0, width);
    size_t pad = shown_ > s.size() ? shown_ - s.size() : 0;
    fmt::print(out_, "\r{}{:{}}", s, "", pad);
    shown_ = s.size();
  } else {
    fmt::print(out_, "progress: {}\n", s);
  }
  fflush(out_);
}

void Progress::tick() {
  std::unique_lock l(mu_);
  auto period = style_.live ? std::chrono::milliseconds(1000) : style_.period;
  while (!cv_.wait_for(l, period, [this] { return stopping_; })) print_locked(true);
}

}  // namespace aioh::cli
