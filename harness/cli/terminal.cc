// Terminal conventions (see terminal.h).
#include "cli/terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace aioh::cli {
namespace {

bool dumb() {
  const char* term = getenv("TERM");
  return term && strcmp(term, "dumb") == 0;
}

}  // namespace

bool color_for(const std::string& mode, int fd) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  const char* no_color = getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  return isatty(fd) && !dumb();
}

bool live_terminal(int fd) { return isatty(fd) && !dumb(); }

int terminal_width(int fd) {
  winsize ws {};
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace aioh::cli
