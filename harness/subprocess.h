// Running a tool (mkfs, modprobe) from the harness: one place that forks,
// captures the output and reports the exit, so a failure names its cause.
#pragma once

#include <string>
#include <vector>

namespace aioh {

// Runs argv (argv[0] found on PATH unless it holds a '/'), stdout and stderr
// captured. "" on exit 0, else "<tool> exited N: <output tail>".
std::string run_tool(const std::vector<std::string>& argv);

}  // namespace aioh
