// Running a tool (mkfs, modprobe) from the harness: one place that forks,
// captures the output and reports the exit, so a failure names its cause.
#pragma once

#include <string>
#include <vector>

namespace aioh {

// Runs argv (argv[0] found on PATH unless it holds a '/'), stdout and stderr
// captured. "" on exit 0, else "<tool> exited N: <output tail>".
std::string run_tool(const std::vector<std::string>& argv);
// Starts every argv before it waits for any (tools that work on things of
// their own, e.g. mkfs on different devices, overlap), then one answer per
// argv, in order, as run_tool gives it.
std::vector<std::string> run_tools(const std::vector<std::vector<std::string>>& argvs);

}  // namespace aioh
