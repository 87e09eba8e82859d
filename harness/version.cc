// The version strings (version.h). Only this file sees the commit, so a new
// commit recompiles one object.
#include "version.h"

#ifndef AIOH_GIT_COMMIT
#define AIOH_GIT_COMMIT "unknown"
#endif

namespace aioh {

std::string_view version() { return AIOH_VERSION; }
std::string_view git_commit() { return AIOH_GIT_COMMIT; }
std::string version_line() {
  return "aioharness " + std::string(version()) + " (commit " + std::string(git_commit()) + ")";
}

}  // namespace aioh
