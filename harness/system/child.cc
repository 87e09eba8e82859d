// Case children die with the harness (see child.h).
#include "system/child.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace aioh::system {

void harden_case_child(pid_t parent) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(125);
}

}  // namespace aioh::system
