// Terminal conventions: when output may carry colour (--color, NO_COLOR,
// TERM=dumb, not a terminal) and when a line may be rewritten in place.
#pragma once

#include <string>

namespace aioh::cli {

// --color always: yes; never: no; auto: fd is a terminal, NO_COLOR is unset
// or empty (no-color.org) and TERM is not "dumb".
bool color_for(const std::string& mode, int fd);

// fd is a terminal that can take a line rewritten with '\r' (TERM not dumb).
bool live_terminal(int fd);

// Columns of the terminal on fd (80 when unknown).
int terminal_width(int fd);

}  // namespace aioh::cli
