// The fork server (see spawner.h): requests and replies as fixed-size
// messages on a SOCK_SEQPACKET pair, the pipes' read ends passed with
// SCM_RIGHTS, children reaped on request when SIGCHLD (a signalfd) says so.
#include "spawner.h"

#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "faults/fault.h"
#include "system/journal.h"

namespace aioh {

namespace {

using Clock = std::chrono::steady_clock;

enum : uint32_t { kSpawn = 1, kReap = 2, kSpawned = 3, kStatus = 4 };

struct SpawnRequest {
  uint32_t kind = 0;
  uint32_t index = 0;  // the case, in the run's cases
  uint32_t seq = 0;    // its plan's number
  int32_t slot = -1;   // its fault-state slot, -1 for none
  int32_t pid = 0;     // kReap: the child
};

struct SpawnMessage {
  uint32_t kind = 0;
  int32_t pid = -1;
  int32_t status = 0;
  int64_t t0_ns = 0;   // steady_clock (CLOCK_MONOTONIC) just before the fork
  char err[240] = {};
};

faults::FaultState* slot_state(void* pool, int slot) {
  return reinterpret_cast<faults::FaultState*>(static_cast<char*>(pool) + static_cast<size_t>(slot) * sizeof(faults::FaultState));
}

bool send_message(int sock, const SpawnMessage& m, const int* fds, int nfds) {
  iovec iov{const_cast<SpawnMessage*>(&m), sizeof m};
  msghdr h{};
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(2 * sizeof(int))] = {};
  if (nfds > 0) {
    h.msg_control = ctl;
    h.msg_controllen = CMSG_SPACE(static_cast<size_t>(nfds) * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&h);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(static_cast<size_t>(nfds) * sizeof(int));
    memcpy(CMSG_DATA(c), fds, static_cast<size_t>(nfds) * sizeof(int));
  }
  for (;;) {
    ssize_t n = sendmsg(sock, &h, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    return n == static_cast<ssize_t>(sizeof m);
  }
}

// The server's side: the children it forked, those the scheduler asked it to reap.
struct Server {
  int sock, sigfd;
  Runner& runner;
  const std::vector<CaseRun>& cases;
  void* pool;
  std::vector<pid_t> live, wanted;  // reserved up front: no allocation between forks

  // Writes as little as it can: every page it writes between forks is
  // copied at the next one (the plan is the child's to make).
  void spawn(const SpawnRequest& rq) {
    SpawnMessage m;
    m.kind = kSpawned;
    int fds[2] = {-1, -1};
    std::string err;
    m.t0_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
    m.pid = rq.index < cases.size()
                ? runner.fork_case(cases[rq.index], rq.seq, rq.slot >= 0 ? slot_state(pool, rq.slot) : nullptr,
                                   &fds[0], &fds[1], &err)
                : -1;
    if (m.pid < 0) {
      snprintf(m.err, sizeof m.err, "%s", err.empty() ? "no such case" : err.c_str());
      send_message(sock, m, nullptr, 0);
      return;
    }
    if (live.size() < live.capacity()) live.push_back(m.pid);
    send_message(sock, m, fds, 2);
    close(fds[0]);
    close(fds[1]);
  }

  void reap_wanted() {
    for (size_t i = 0; i < wanted.size();) {
      int st = 0;
      pid_t r = waitpid(wanted[i], &st, WNOHANG);
      if (r == 0) {
        i++;
        continue;
      }
      SpawnMessage m;
      m.kind = kStatus;
      m.pid = wanted[i];
      m.status = r == wanted[i] ? st : -1;
      send_message(sock, m, nullptr, 0);
      std::erase(live, wanted[i]);
      wanted[i] = wanted.back();
      wanted.pop_back();
    }
  }

  [[noreturn]] void shutdown() {
    for (pid_t p : live) kill(-p, SIGKILL);
    for (pid_t p : live) waitpid(p, nullptr, 0);
    _exit(0);
  }

  [[noreturn]] void serve() {
    for (;;) {
      pollfd fds[2] = {{sock, POLLIN, 0}, {sigfd, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        shutdown();
      }
      if (fds[1].revents) {
        signalfd_siginfo si;
        while (read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {}
        reap_wanted();
      }
      if (!fds[0].revents) continue;
      SpawnRequest rq;
      ssize_t n = recv(sock, &rq, sizeof rq, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n != static_cast<ssize_t>(sizeof rq)) shutdown();  // the scheduler is done, or gone
      if (rq.kind == kSpawn) spawn(rq);
      if (rq.kind == kReap && wanted.size() < wanted.capacity()) {
        wanted.push_back(rq.pid);
        reap_wanted();
      }
    }
  }
};

}  // namespace

struct Spawner::Reply {
  SpawnMessage m;
  int fds[2] = {-1, -1};
  bool have = false;
};

std::unique_ptr<Spawner> Spawner::start(Runner& runner, const std::vector<CaseRun>& cases, int slots) {
  std::unique_ptr<Spawner> s(new Spawner);
  s->reply_ = std::make_unique<Reply>();
  s->runner_ = &runner;
  s->slots_ = std::max(1, slots);
  size_t bytes = static_cast<size_t>(s->slots_) * sizeof(faults::FaultState);
  s->pool_ = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s->pool_ == MAP_FAILED) return nullptr;
  for (int i = s->slots_ - 1; i >= 0; i--) s->free_.push_back(i);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    munmap(s->pool_, bytes);
    return nullptr;
  }
  pid_t parent = getpid();
  Journal::run_journal();  // named for this process before the fork: the children record into it
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    prctl(PR_SET_NAME, "aioh-spawner");
    // Every page it holds is one more to copy (and later tear down) per
    // case: what the harness freed goes back to the kernel first.
    malloc_trim(0);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) signal(sig, SIG_IGN);  // the scheduler decides
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, nullptr);
    int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    remember_dispositions();  // final from here on: its children reset only these
    Server server{sv[1], sigfd, runner, cases, s->pool_, {}, {}};
    server.live.reserve(2048);  // --jobs is at most 1024
    server.wanted.reserve(2048);
    server.serve();
  }
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    munmap(s->pool_, bytes);
    return nullptr;
  }
  s->sock_ = sv[0];
  s->pid_ = pid;
  return s;
}

Spawner::~Spawner() {
  if (sock_ >= 0) close(sock_);  // the server kills what is left and exits
  if (pid_ > 0) waitpid(pid_, nullptr, 0);
  if (reply_ && reply_->have)
    for (int fd : reply_->fds) close(fd);
  if (pool_) munmap(pool_, static_cast<size_t>(slots_) * sizeof(faults::FaultState));
}

bool Spawner::receive(bool wait) {
  if (sock_ < 0) return false;
  SpawnMessage m;
  iovec iov{&m, sizeof m};
  alignas(cmsghdr) char ctl[CMSG_SPACE(2 * sizeof(int))] = {};
  msghdr h{};
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  h.msg_control = ctl;
  h.msg_controllen = sizeof ctl;
  ssize_t n;
  do {
    n = recvmsg(sock_, &h, MSG_CMSG_CLOEXEC | (wait ? 0 : MSG_DONTWAIT));
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  if (n != static_cast<ssize_t>(sizeof m)) {  // the server is gone
    close(sock_);
    sock_ = -1;
    return false;
  }
  if (m.kind == kStatus) {
    statuses_.push_back({m.pid, m.status});
  } else if (m.kind == kSpawned) {
    reply_->m = m;
    reply_->have = true;
    cmsghdr* c = CMSG_FIRSTHDR(&h);
    if (c && c->cmsg_type == SCM_RIGHTS) memcpy(reply_->fds, CMSG_DATA(c), 2 * sizeof(int));
  }
  return true;
}

bool Spawner::spawn(size_t index, CasePlan& plan, CaseProcess& proc, std::string* err) {
  int slot = -1;
  if (plan.run->row->fault) {
    if (free_.empty()) {
      *err = "no free fault-state slot in the fork server";
      return false;
    }
    slot = free_.back();
    free_.pop_back();
    plan.fault_state = new (slot_state(pool_, slot)) faults::FaultState{};
    plan.fault_state_pooled = true;
    plan.fault_seed = faults::case_seed(runner_->options().fault_seed, plan.run->id);
  }
  SpawnRequest rq;
  rq.kind = kSpawn;
  rq.index = static_cast<uint32_t>(index);
  rq.seq = plan.seq;
  rq.slot = slot;
  reply_->have = false;
  if (sock_ < 0 || send(sock_, &rq, sizeof rq, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof rq)) {
    *err = "the fork server is gone";
    return false;
  }
  while (!reply_->have)
    if (!receive(true) && sock_ < 0) {
      *err = "the fork server is gone";
      return false;
    }
  reply_->have = false;
  if (reply_->m.pid < 0) {
    *err = reply_->m.err;
    return false;
  }
  proc.t0 = Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(reply_->m.t0_ns)));
  runner_->watch(plan, proc, reply_->m.pid, reply_->fds[0], reply_->fds[1], false);
  return true;
}

void Spawner::reap(pid_t pid) {
  SpawnRequest rq;
  rq.kind = kReap;
  rq.pid = pid;
  if (sock_ >= 0) send(sock_, &rq, sizeof rq, MSG_NOSIGNAL);
}

std::vector<std::pair<pid_t, int>> Spawner::statuses() {
  while (receive(false)) {}
  std::vector<std::pair<pid_t, int>> out;
  out.swap(statuses_);
  return out;
}

void Spawner::release(faults::FaultState* st) {
  if (!st || !pool_) return;
  auto off = reinterpret_cast<char*>(st) - static_cast<char*>(pool_);
  if (off >= 0 && off < static_cast<ptrdiff_t>(static_cast<size_t>(slots_) * sizeof(faults::FaultState)))
    free_.push_back(static_cast<int>(off / static_cast<ptrdiff_t>(sizeof(faults::FaultState))));
}

}  // namespace aioh
