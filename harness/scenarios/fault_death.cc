// The fault_death scenario: for faults that kill the caller (a seccomp
// SIGSYS, as Android's app policy does for io_uring_setup), the interface's
// setup runs in a forked grandchild so the case itself survives to observe
// how it ended: the signal's name (SIGSYS@setup) when it died, else the
// setup's own outcome. A killed process and a refused call (EPERM, ENOSYS)
// are thus told apart in the table, not lumped together as a crash.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "faults/fault.h"
#include "scenarios/common.h"

AIOH_SCENARIO(fault_death, aioh::param::none) {
  using namespace aioh;
  faults::arm();
  int sig = 0;
  auto o = scn::outcome_in_child([&] {
    rlimit none{0, 0};
    setrlimit(RLIMIT_CORE, &none);  // a SIGSYS death leaves no core file
    Outcome r = ctx.backend().setup({});
    if (!r.is_error) ctx.backend().teardown();
    return r;
  }, Phase::setup, &sig);
  faults::disarm();
  if (sig) {
    const char* abbrev = sigabbrev_np(sig);
    ctx.note(std::string("setup killed the process with signal ") + (abbrev ? abbrev : "?"));
  }
  if (!o) ctx.broken("the setup process neither answered nor died of a signal");
  ctx.observe(*o);
}
