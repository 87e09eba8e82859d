// Forked, watched case execution and verdict classification (see runner.h).
#include "runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "backend.h"
#include "journal.h"
#include "kernel_log.h"
#include "reporter.h"
#include "faults/fault.h"
#include "system/child.h"
#include "system/signals.h"

namespace aioh {
namespace {

using Clock = std::chrono::steady_clock;

// The fault of the case about to fork: its shared readback page and seed.
faults::FaultState* g_fault_state = nullptr;
uint64_t g_fault_seed = 0;

[[noreturn]] void child_main(const CaseRun& c, const Environment& env, const std::string& dir, int out_fd,
                             const std::map<std::string, Param>& params) {
  setpgid(0, 0);
  // Default dispositions: the parent's handlers must not run in the case.
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  Reporter rep(out_fd);
  auto be = make_backend(c.interface);
  if (!be) {
    rep.exit("broken", "no backend named " + c.interface);
    _exit(0);
  }
  // The row's fault goes in before the scenario: seccomp filters, rlimits and
  // mount namespaces are per process, and this child is the case's process.
  std::string case_dir = dir;
  if (c.row->fault) {
    auto in = faults::install(*c.row->fault, g_fault_seed, g_fault_state, dir, c.row->scenario.rfind("fault_", 0) != 0);
    if (in.kind != faults::Installed::ok) {
      faults::release();
      rep.exit(in.kind == faults::Installed::skip ? "skip" : "broken", in.reason);
      _exit(0);
    }
    case_dir = in.scratch_dir;
  }
  const ScenarioDecl* decl = find_scenario_decl(c.row->scenario);
  CaseContext ctx(params, *be, env, case_dir, rep, decl);
  try {
    decl->fn(ctx);
  } catch (const ScenarioExit& e) {
    faults::release();
    for (auto& b : be->conventions().breaches) rep.convention(b);
    rep.exit(e.kind == ScenarioExit::skip ? "skip" : "broken", e.reason);
    _exit(0);
  } catch (const std::exception& e) {
    faults::release();
    rep.exit("broken", std::string("scenario threw: ") + e.what());
    _exit(0);
  }
  faults::release();
  for (auto& b : be->conventions().breaches) rep.convention(b);
  be.reset();
  rep.done();
  _exit(0);
}

// Everything the child said, parsed from its JSON lines.
struct ChildReport {
  std::vector<ObservedStep> seen;
  std::vector<Observation> observations;
  std::vector<std::string> failures, conventions, notes;
  std::string exit_kind, exit_reason;
  bool done = false;
};

void absorb(ChildReport& r, const std::string& line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (...) {
    r.failures.push_back("unparseable report line from the case: " + line.substr(0, 200));
    return;
  }
  std::string t = j.value("t", "");
  if (t == "obs") {
    Observation o;
    o.phase = phase_from_name(j.value("phase", "")).value_or(Phase::submit);
    o.channel = channel_from_name(j.value("channel", "")).value_or(Channel::ret);
    if (j.contains("errno")) {
      o.errno_name = j["errno"].get<std::string>();
      o.errno_num = j.value("errno_num", 0);
    } else {
      o.value = j.value("value", int64_t{0});
      o.sym = j.value("sym", "");
    }
    if (j.contains("elapsed_ms")) o.elapsed_ms = j["elapsed_ms"].get<double>();
    r.seen.push_back({o.token(), o.phase});
    r.observations.push_back(std::move(o));
  } else if (t == "fail") {
    r.failures.push_back(j.value("what", ""));
  } else if (t == "conv") {
    r.conventions.push_back(j.value("what", ""));
  } else if (t == "note") {
    r.notes.push_back(j.value("text", ""));
  } else if (t == "exit") {
    r.exit_kind = j.value("kind", "");
    r.exit_reason = j.value("reason", "");
  } else if (t == "done") {
    r.done = true;
  }
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

void remove_tree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace

Result Runner::run_one(const CaseRun& c) {
  const CaseRow& row = *c.row;
  Result res;
  res.id = c.id;
  res.case_id = row.case_id();
  res.area = row.area;
  res.interface = c.interface;
  res.scenario = row.scenario;
  res.source = row.source;
  res.doc = row.doc;
  if (row.xfail_applies(c.interface)) res.xfail = XFailRecord{row.xfail->reason, row.xfail->ref, {}};
  // A case on a target sees the target's facts over the environment, runs in
  // the target's directory, or is handed the target's block device.
  const Target* tgt = nullptr;
  Environment tenv;
  std::map<std::string, Param> params = row.params;
  if (std::string tname = run_target(c); !tname.empty()) {
    tgt = opts_.targets ? opts_.targets->find(tname) : nullptr;
    if (!tgt || !tgt->reason.empty()) {
      res.verdict = Verdict::skip;
      res.reason = fmt::format("target {} unavailable: {}", tname, tgt ? tgt->reason : "not created by this run");
      if (tgt) res.target = tgt->record();
      return res;
    }
    res.target = tgt->record();
    tenv = overlay(env_, *tgt);
    if (tgt->raw()) params["target_device"] = tgt->device;
  }
  const Environment& env = tgt ? tenv : env_;
  // A defect keyed on a probed fact is expected only where the fact holds; a
  // probe that could not decide does not rule the defect out.
  if (res.xfail && row.xfail->cond) {
    const std::string& fact = row.xfail->cond->fact;
    if (!env.facts.count(fact)) {
      auto why = env.info.find(fact + "_reason");
      res.xfail->undecided = fact + " not decided by the probe" + (why == env.info.end() ? "" : ": " + why->second);
    } else if (!row.xfail->cond->eval(env)) {
      res.xfail.reset();
    }
  }
  const Expectation* exp = row.expectation_for(c.interface, env);
  res.expected = exp ? exp->text : "";

  auto avail = env.interfaces.find(c.interface);
  if (avail != env.interfaces.end() && !avail->second.available) {
    res.verdict = Verdict::skip;
    res.reason = c.interface + " unavailable: " + avail->second.reason;
    return res;
  }
  for (auto& req : row.requires_) {
    bool negate = req[0] == '!';
    std::string fact = negate ? req.substr(1) : req;
    if (env.flag(fact) == negate) {
      res.verdict = Verdict::skip;
      res.reason = fmt::format("needs {}{} (probe: {} = {})", negate ? "!" : "", fact, fact,
                               env.facts.count(fact) ? env.text(fact) : "absent");
      if (tgt) {
        auto why = tgt->info.find(fact + "_reason");
        res.reason += fmt::format(" on target {}{}", tgt->name, why == tgt->info.end() ? "" : ": " + why->second);
      } else if (auto why = env.info.find(fact + "_reason"); why != env.info.end()) {
        res.reason += ": " + why->second;  // the probe's own why (e.g. fuse_reason)
      }
      return res;
    }
  }

  std::string dir = fmt::format("{}/case-{:04}", tgt && !tgt->raw() ? tgt->dir : opts_.scratch_dir, seq_++);
  if (mkdir(dir.c_str(), 0700) != 0) {
    res.verdict = Verdict::broken;
    res.reason = fmt::format("cannot create case scratch dir {}: {}", dir, strerror(errno));
    return res;
  }

  KernelLogWatch klog(opts_.kernel_log);
  klog.mark(fmt::format("aioharness: begin {}", c.id));

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    res.verdict = Verdict::broken;
    res.reason = "pipe2 failed";
    return res;
  }
  faults::FaultState* fault_state = row.fault ? faults::state_alloc() : nullptr;
  uint64_t fault_seed = row.fault ? faults::case_seed(opts_.fault_seed, c.id) : 0;
  g_fault_state = fault_state;
  g_fault_seed = fault_seed;
  fflush(nullptr);
  auto t0 = Clock::now();
  pid_t harness = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    system::harden_case_child(harness);  // dies with the harness
    close(out_pipe[0]);
    close(err_pipe[0]);
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, STDIN_FILENO);
    dup2(devnull, STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    child_main(c, env, dir, out_pipe[1], params);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    res.verdict = Verdict::broken;
    res.reason = "fork failed";
    return res;
  }
  setpgid(pid, pid);

  double limit = row.timeout_s.value_or(opts_.timeout_s);
  auto deadline = t0 + std::chrono::duration<double>(limit);
  ChildReport rep;
  std::string pending, err_tail;
  bool timed_out = false, out_open = true, err_open = true;
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[2] = {{out_open ? out_pipe[0] : -1, POLLIN, 0}, {err_open ? err_pipe[0] : -1, POLLIN, 0}};
    int n = poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000)));
    if (n < 0 && errno != EINTR) break;
    char buf[8192];
    if (fds[0].revents) {
      ssize_t k = read(out_pipe[0], buf, sizeof buf);
      if (k <= 0) {
        out_open = false;
      } else {
        pending.append(buf, k);
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          absorb(rep, pending.substr(0, nl));
          pending.erase(0, nl + 1);
        }
      }
    }
    if (fds[1].revents) {
      ssize_t k = read(err_pipe[0], buf, sizeof buf);
      if (k <= 0) err_open = false;
      else err_tail = (err_tail + std::string(buf, k)).substr(err_tail.size() + k > 2048 ? err_tail.size() + k - 2048 : 0);
    }
  }
  // The whole group: glibc AIO worker threads die with the process, and any
  // helper the scenario forked is in the same group.
  kill(-pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  close(out_pipe[0]);
  close(err_pipe[0]);
  res.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  res.observations = rep.observations;
  res.observed = observed_text(rep.seen);
  res.notes = rep.notes;
  res.stderr_tail = err_tail;
  if (row.fault) {
    res.fault = faults::record(*row.fault, fault_seed, fault_state);
    faults::state_free(fault_state);
  }

  std::string splat = klog.collect(c.id);
  remove_tree(dir);
  // Whatever the child changed and could not restore (it was killed, or it
  // crashed) is undone now, before the next case runs.
  std::vector<std::string> restored = Journal::run_journal().undo_pid(pid);
  bool restore_failed = false;
  for (auto& r : restored) {
    res.notes.push_back("restored after the case: " + r);
    restore_failed |= r.size() < 4 || r.compare(r.size() - 4, 4, ": ok") != 0;
  }

  if (timed_out) {
    res.verdict = Verdict::timeout;
    res.reason = fmt::format("no end after {:.1f} s; observed so far: {}", limit, res.observed);
  } else if (WIFSIGNALED(status) && !rep.done && rep.exit_kind.empty()) {
    res.verdict = Verdict::crash;
    res.reason = fmt::format("child killed by signal {} ({})", sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
                             strsignal(WTERMSIG(status)));
    if (!err_tail.empty()) res.reason += "; stderr: " + err_tail.substr(err_tail.size() > 300 ? err_tail.size() - 300 : 0);
  } else if (rep.exit_kind == "skip") {
    res.verdict = Verdict::skip;
    res.reason = rep.exit_reason;
  } else if (rep.exit_kind == "broken") {
    res.verdict = Verdict::broken;
    res.reason = rep.exit_reason;
  } else if (!rep.done) {
    res.verdict = Verdict::broken;
    res.reason = fmt::format("child ended (status {}) without finishing", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  } else {
    std::vector<std::string> why;
    for (auto& f : rep.failures) why.push_back(f);
    for (auto& cv : rep.conventions) why.push_back("convention: " + cv);
    if (rep.seen.empty() && why.empty()) {
      res.verdict = Verdict::broken;
      res.reason = "the case asserted nothing";
    } else {
      if (!exp) why.push_back("no expectation for this interface");
      else if (auto d = compare(*exp, rep.seen); !d.empty()) why.insert(why.begin(), d);
      res.verdict = why.empty() ? Verdict::pass : Verdict::fail;
      res.reason = join(why, "; ");
    }
  }
  // A fault that did not fire tested nothing: broken, never pass (or fail).
  if (res.fault && !res.fault->fired() && (res.verdict == Verdict::pass || res.verdict == Verdict::fail)) {
    res.reason = fmt::format("the fault did not fire ({}, {} matching calls)", res.fault->fiu, res.fault->calls) +
                 (res.reason.empty() ? "" : "; " + res.reason);
    res.verdict = Verdict::broken;
  }
  if (restore_failed) {
    res.verdict = Verdict::broken;
    res.reason = "could not restore what the case changed: " + join(restored, "; ") +
                 (res.reason.empty() ? "" : "; " + res.reason);
  }
  if (!splat.empty()) {
    res.verdict = Verdict::fail;
    res.reason = "kernel-log: " + splat + (res.reason.empty() ? "" : "; " + res.reason);
  }
  if (res.xfail) {
    if (res.verdict == Verdict::fail) res.verdict = Verdict::xfail;
    else if (res.verdict == Verdict::pass) {
      res.verdict = Verdict::xpass;
      res.reason = "known defect did not reproduce: " + row.xfail->ref;
    }
  }
  return res;
}

// The handlers live in system/signals.cc (installed at main's start).
void install_stop_handlers() { system::install_stop_handlers(); }

int stop_signal() { return system::stop_signal(); }

void Runner::run(const std::vector<CaseRun>& cases, const std::function<void(const Result&)>& on_result,
                 const std::function<void(const CaseRun&)>& on_start) {
  // A case already running finishes (or meets its watchdog); then the run
  // stops so targets, sysctls and the scratch dir are restored as usual.
  for (auto& c : cases) {
    if (stop_signal()) break;
    if (on_start) on_start(c);
    on_result(run_one(c));
  }
}

}  // namespace aioh
