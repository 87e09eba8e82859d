// The tool's version, from one place: CMake's project(VERSION), and the git
// commit the build tree was configured from ("unknown" where the source is
// not a git checkout, e.g. an unpacked release). `harness --version`, the
// table's banner and the JSON result's tool.version all read these.
#pragma once

#include <string>
#include <string_view>

namespace aioh {

std::string_view version();     // "0.1.0"
std::string_view git_commit();  // "4c0eb47d1a2b", or "unknown"
// "aioharness 0.1.0 (commit 4c0eb47d1a2b)"
std::string version_line();

}  // namespace aioh
