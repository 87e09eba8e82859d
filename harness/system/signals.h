// Signals that stop a run, handled from main's first instruction. SIGINT,
// SIGTERM, SIGHUP and SIGPIPE (a reader such as `head` that went away) only
// record which signal came; the run then ends on its ordinary path — the case
// running finishes or meets its watchdog, targets, mounts, loop devices,
// sysctls and the scratch directory are torn down, the output is finalised —
// and the harness exits 128 + the signal. Before these handlers existed a
// signal during the probe or target creation (or SIGPIPE at any time) killed
// the harness with its mounts and loop devices still in place.
#pragma once

#include <string>

namespace aioh::system {

// Installs the handlers (no SA_RESTART: a blocking poll or read wakes up).
void install_stop_handlers();
// The first stop signal received, 0 if none.
int stop_signal();
// "SIGTERM", or the number when it has no name.
std::string signal_name(int sig);

}  // namespace aioh::system
