// `harness --compare`: each shared scenario on one line, one column per
// interface with the observed outcome and phase, and a mark where the
// interfaces' final answers disagree once their conventions are normalised.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "result.h"

namespace aioh {

// The final error or value of each executed interface; "" where none ran.
// Interfaces disagree when two executed ones end on different tokens.
bool interfaces_disagree(const std::vector<const Result*>& row);

void print_comparison(FILE* out, const std::vector<Result>& results,
                      const std::vector<std::string>& interfaces, bool color);

}  // namespace aioh
