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
#include "scenario.h"

AIOH_SCENARIO(fault_death, aioh::param::none) {
  using namespace aioh;
  struct Wire {
    bool is_error;
    int err;
    int64_t value;
    Channel channel;
  } w{};
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) ctx.broken("pipe2 failed");
  faults::arm();
  pid_t pid = fork();
  if (pid < 0) ctx.broken("fork failed");
  if (pid == 0) {
    rlimit none{0, 0};
    setrlimit(RLIMIT_CORE, &none);  // a SIGSYS death leaves no core file
    Outcome o = ctx.backend().setup({});
    w = Wire{o.is_error, o.err, o.value, o.channel};
    if (!o.is_error) ctx.backend().teardown();
    _exit(write(p[1], &w, sizeof w) == sizeof w ? 0 : 1);
  }
  close(p[1]);
  ssize_t n = read(p[0], &w, sizeof w);
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  faults::disarm();
  if (WIFSIGNALED(status)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    ctx.note(std::string("setup killed the process with signal ") + (abbrev ? abbrev : "?"));
    ctx.observe(Outcome::ok(WTERMSIG(status), Channel::ret, Phase::setup, abbrev ? std::string("SIG") + abbrev : ""));
  } else if (n == sizeof w) {
    ctx.observe(w.is_error ? Outcome::error(w.err, w.channel, Phase::setup) : Outcome::ok(w.value, w.channel, Phase::setup));
  } else {
    ctx.broken("the setup process neither answered nor died of a signal");
  }
}
