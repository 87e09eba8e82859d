// The child side of the runner's result channel: every observation, check
// failure, note and exit is written at once as one JSON line to a pipe, so a
// child that crashes half-way still leaves what it saw.
#pragma once

#include <string>

#include "outcome.h"

namespace aioh {

class Reporter {
 public:
  explicit Reporter(int fd) : fd_(fd) {}
  void observe(const Outcome& o);
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
