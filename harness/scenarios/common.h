// Building blocks the shared scenarios use: set up or give up, submit and
// observe, reap and observe in tag order, verify data, make a request that
// stays pending. Each step observes exactly what the table expects to see.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pattern.h"
#include "scenario.h"
#include "system/child.h"
#include "system/settings.h"

namespace aioh::scn {

// An interface call that may kill its caller (a seccomp SIGSYS, a crash),
// made in a forked child (system/child.h) so the case survives to observe
// it: the call's outcome in `phase`, or, when a signal ended the child, the
// signal as the observed value ("SIGSYS@setup") with *signal set; nullopt
// when the child neither answered nor died of a signal.
inline std::optional<Outcome> outcome_in_child(const std::function<Outcome()>& call, Phase phase, int* signal) {
  struct Wire {
    bool is_error;
    int err;
    int64_t value;
    Channel channel;
  };
  *signal = 0;
  auto c = system::run_in_child([&] {
    Outcome o = call();
    Wire w{o.is_error, o.err, o.value, o.channel};
    return std::string(reinterpret_cast<const char*>(&w), sizeof w);
  }, 0);
  if (c.signal) {
    *signal = c.signal;
    const char* abbrev = sigabbrev_np(c.signal);
    return Outcome::ok(c.signal, Channel::ret, phase, abbrev ? std::string("SIG") + abbrev : "");
  }
  if (c.out.size() != sizeof(Wire)) return std::nullopt;
  Wire w;
  memcpy(&w, c.out.data(), sizeof w);
  return w.is_error ? Outcome::error(w.err, w.channel, phase) : Outcome::ok(w.value, w.channel, phase);
}

inline constexpr timespec kReapTimeout{5, 0};

// A plain read request.
inline Request read_req(int fd, void* buf, size_t len, int64_t offset, uint64_t tag) {
  return make_request(Op::read, fd, buf, len, offset, tag);
}

// Setup is not what these scenarios test: a refusal makes the case broken.
// Another run (or a row running beside this one) may have a global setting
// changed for a moment - fs.aio-max-nr lowered (EAGAIN), io_uring disabled
// (EPERM) - and every such change is made and undone under the settings lock
// (system/settings.h). So a refused setup is tried once more holding that
// lock, where no such change is in force; only a second refusal is broken.
inline void setup_or_broken(CaseContext& ctx, SetupParams p = {}) {
  Outcome o = ctx.backend().setup(p);
  if (!o.is_error) return;
  std::string waited;
  const std::string refused =
      system::acquire_settings_lock("a setup that failed with " + o.str(), &waited, system::kCaseLockWait);
  if (!refused.empty()) ctx.broken("setup failed: " + o.str() + "; " + refused);
  Outcome again = ctx.backend().setup(p);
  system::release_settings_lock();
  if (again.is_error) ctx.broken("setup failed: " + o.str() + ", and again under the settings lock: " + again.str());
  if (!waited.empty()) ctx.note("setup failed with " + o.str() + "; it worked under the settings lock (" + waited + ")");
}

// Submits the batch and observes the submit outcome; returns how many the
// interface accepted (0 on an error).
inline int64_t submit_observed(CaseContext& ctx, std::vector<Request*> reqs) {
  Outcome o = ctx.backend().submit(std::move(reqs));
  ctx.observe(o);
  return o.is_error ? 0 : o.value;
}

// Waits for n completions and observes each one in tag order. A wait error
// or a short count is observed too, so a lost completion shows up.
inline std::map<uint64_t, Completion> reap_observed(CaseContext& ctx, unsigned n,
                                                    timespec timeout = kReapTimeout) {
  std::map<uint64_t, Completion> got;
  std::vector<Completion> out;
  Outcome w = ctx.backend().wait(n, n, timeout, out);
  for (auto& c : out) got[c.tag] = c;
  if (w.is_error || got.size() < n) {
    ctx.observe(w);
    return got;
  }
  for (auto& [_, c] : got) ctx.observe(c.result);
  return got;
}

// The read that was reported successful returned the file's bytes.
inline void verify_read(CaseContext& ctx, const Completion& c, const void* buf, uint64_t offset) {
  if (c.result.is_error || c.result.value <= 0) return;
  std::string bad = verify_buffer(buf, static_cast<size_t>(c.result.value), kFileSeed, offset);
  ctx.check(bad.empty(), bad);
}

// A pipe whose read end never has data until the scenario writes to it.
struct Pipe {
  int rd = -1, wr = -1;
  Pipe() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) == 0) {
      rd = p[0];
      wr = p[1];
    }
  }
  ~Pipe() {
    if (rd >= 0) close(rd);
    if (wr >= 0) close(wr);
  }
  void feed(size_t n = 1) {
    std::string s(n, 'x');
    (void)!write(wr, s.data(), s.size());
  }
};

// A request that stays pending on an empty pipe: a read where the interface
// parks it, IOCB_CMD_POLL where a pipe read would block inside submit.
inline Request pending_request(CaseContext& ctx, Pipe& p, void* buf, uint64_t tag) {
  Request r;
  r.tag = tag;
  r.fd = p.rd;
  if (ctx.backend().traits().pipe_read_blocks_submit) {
    r.op = Op::poll;
    r.poll_events = POLLIN;
  } else {
    r.op = Op::read;
    r.buf = buf;
    r.len = 1;
  }
  return r;
}

}  // namespace aioh::scn
