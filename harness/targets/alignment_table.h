// `harness --compare` for target cases: one alignment table per target
// (rows: request shapes, i.e. case ids; columns: interfaces; cells: "ok" or
// the errno and the phase that reported it), a row marked where an
// interface's observation did not match the prediction.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "result.h"

namespace aioh {

// Prints a table for every target that appears in `results` (those with a
// non-null `target`); other results are ignored. Returns the mismatch count.
int print_alignment_tables(FILE* out, const std::vector<Result>& results,
                           const std::vector<std::string>& interfaces, bool color);

}  // namespace aioh
