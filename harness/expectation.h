// Expectations as the case tables write them: a sequence of TOKEN@PHASE
// steps, each token an errno name, an integer, a known symbol, or
// alternatives joined by '|'. Compared in order with what a scenario observed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outcome.h"

namespace aioh {

struct ExpectedStep {
  std::vector<std::string> tokens;  // alternatives
  Phase phase = Phase::submit;
};

struct Expectation {
  std::vector<ExpectedStep> steps;
  std::string text;  // as written in the table
  bool has_alternatives() const;
};

// nullopt with *error set on a malformed expectation or unknown errno name.
std::optional<Expectation> parse_expectation(std::string_view text, std::string* error);

struct ObservedStep {
  std::string token;  // errno name, symbol or value
  Phase phase;
};

// Empty when the observations match; otherwise what differs.
std::string compare(const Expectation& e, const std::vector<ObservedStep>& seen);

std::string observed_text(const std::vector<ObservedStep>& seen);

}  // namespace aioh
