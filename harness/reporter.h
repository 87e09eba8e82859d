// The child side of the runner's result channel: every observation, check
// failure, note and exit is written at once as one JSON line to a pipe, so a
// child that crashes half-way still leaves what it saw.
#pragma once

#include <optional>
#include <string>

#include "outcome.h"

namespace aioh {

class Reporter {
 public:
  explicit Reporter(int fd) : fd_(fd) {}
  // elapsed_ms: how long the observed call took, where the scenario timed it.
  void observe(const Outcome& o, std::optional<double> elapsed_ms = std::nullopt);
  void fail(const std::string& what);
  void convention(const std::string& what);
  void note(const std::string& text);
  void exit(const std::string& kind, const std::string& reason);
  void done();

 private:
  void line(const std::string& json);
  int fd_;
};

}  // namespace aioh
