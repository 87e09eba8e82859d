// Forked, watched case execution and verdict classification (see runner.h).
#include "runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "backend.h"
#include "system/journal.h"
#include "kernel_log.h"
#include "errno_names.h"
#include "reporter.h"
#include "faults/fault.h"
#include "system/child.h"
#include "system/settings.h"
#include "system/signals.h"

namespace aioh {
namespace {

using Clock = std::chrono::steady_clock;

// The fault of the case about to fork: its shared readback page and seed.
faults::FaultState* g_fault_state = nullptr;
uint64_t g_fault_seed = 0;

// The signals whose disposition is not SIG_DFL in the process that forks
// the cases (a handler, SIG_IGN), which is all a child inherits that it
// must put back. Read once by the fork server, whose dispositions stay as
// they are from then on (remember_dispositions); the harness, forking a
// case itself, reads them at each fork. A sigaction is a system call (about
// 1 us here): resetting all 64 cost a case's child about 65 us.
struct Dispositions {
  pid_t owner = -1;     // the process they were read in
  bool fixed = false;   // by remember_dispositions: they do not change in it
  int n = 0;
  int sig[NSIG] = {};
};
Dispositions g_dispositions;

void read_dispositions(Dispositions& d) {
  d.n = 0;
  d.fixed = false;
  for (int s = 1; s < NSIG; s++) {
    struct sigaction sa {};
    if (s == SIGKILL || s == SIGSTOP || sigaction(s, nullptr, &sa) != 0) continue;
    bool dfl = !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL;
    if (!dfl) d.sig[d.n++] = s;
  }
  d.owner = getpid();
}

// The row's fault goes in before the scenario: seccomp filters, rlimits and
// mount namespaces are per process, and this child is the case's process.
// Returns the scenario's directory, or leaves the child with its verdict.
std::string install_fault_or_exit(const CaseRun& c, const std::string& dir, Reporter& rep) {
  if (!c.row->fault) return dir;
  auto in = faults::install(*c.row->fault, g_fault_seed, g_fault_state, dir, c.row->scenario.rfind("fault_", 0) != 0);
  if (in.kind != faults::Installed::ok) {
    faults::release();
    rep.exit(in.kind == faults::Installed::skip ? "skip" : "broken", in.reason);
    _exit(0);
  }
  return in.scratch_dir;
}

[[noreturn]] void child_main(const CasePlan& p, const Environment& env, int out_fd) {
  const CaseRun& c = *p.run;
  const std::string& dir = p.dir;
  setpgid(0, 0);
  // Named for this run and case, so a kernel splat that names the task
  // (kernel_log.h) is traced to the case, threads and helpers included.
  prctl(PR_SET_NAME, p.comm.c_str());
  // Default dispositions: the parent's handlers must not run in the case
  // (those still SIG_DFL in the forking process are SIG_DFL here already).
  for (int i = 0; i < g_dispositions.n; i++) signal(g_dispositions.sig[i], SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  Reporter rep(out_fd);
  if (mkdir(dir.c_str(), 0700) != 0) {
    rep.exit("broken", fmt::format("cannot create case scratch dir {}: {}", dir, errno_name(errno)));
    _exit(0);
  }
  auto be = make_backend(c.interface);
  if (!be) {
    rep.exit("broken", "no backend named " + c.interface);
    _exit(0);
  }
  std::string case_dir = install_fault_or_exit(c, dir, rep);
  const ScenarioDecl* decl = find_scenario_decl(c.row->scenario);
  CaseContext ctx(p.params, *be, env, case_dir, rep, decl);
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

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

void remove_tree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// The skip a row's `requires` decides from the probed facts, or "".
std::string unmet_requirement(const CaseRow& row, const Environment& env, const Target* tgt) {
  for (auto& req : row.requires_) {
    bool negate = req[0] == '!';
    std::string fact = negate ? req.substr(1) : req;
    if (env.flag(fact) != negate) continue;
    std::string why = fmt::format("needs {}{} (probe: {} = {})", negate ? "!" : "", fact, fact,
                                  env.facts.count(fact) ? env.text(fact) : "absent");
    if (tgt) {
      auto it = tgt->info.find(fact + "_reason");
      why += fmt::format(" on target {}{}", tgt->name, it == tgt->info.end() ? "" : ": " + it->second);
    } else if (auto it = env.info.find(fact + "_reason"); it != env.info.end()) {
      why += ": " + it->second;  // the probe's own why (e.g. fuse_reason)
    }
    return why;
  }
  return "";
}

// A defect keyed on a probed fact is expected only where the fact holds; a
// probe that could not decide does not rule the defect out.
void decide_xfail(Result& res, const CaseRow& row, const Environment& env) {
  if (!res.xfail || !row.xfail->cond) return;
  const std::string& fact = row.xfail->cond->fact;
  if (!env.facts.count(fact)) {
    auto why = env.info.find(fact + "_reason");
    res.xfail->undecided = fact + " not decided by the probe" + (why == env.info.end() ? "" : ": " + why->second);
  } else if (!row.xfail->cond->eval(env)) {
    res.xfail.reset();
  }
}

void set_final(CasePlan& p, Verdict v, std::string reason) {
  p.res.verdict = v;
  p.res.reason = std::move(reason);
  p.final = true;
}

// The verdict of a child that finished its scenario: the observations
// against the expectation, check failures and convention breaches.
void classify_finished(Result& res, const ChildReport& rep, const Expectation* exp) {
  std::vector<std::string> why;
  for (auto& f : rep.failures) why.push_back(f);
  for (auto& cv : rep.conventions) why.push_back("convention: " + cv);
  if (rep.seen.empty() && why.empty()) {
    res.verdict = Verdict::broken;
    res.reason = "the case asserted nothing";
    return;
  }
  if (!exp) why.push_back("no expectation for this interface");
  else if (auto d = compare(*exp, rep.seen); !d.empty()) why.insert(why.begin(), d);
  res.verdict = why.empty() ? Verdict::pass : Verdict::fail;
  res.reason = join(why, "; ");
}

// How the child ended: watchdog, signal, its own exit, or its report.
void classify_ending(Result& res, const ChildReport& rep, const CaseProcess& proc, const Expectation* exp,
                     double limit_s) {
  const int status = proc.status;
  if (proc.timed_out) {
    res.verdict = Verdict::timeout;
    res.reason = fmt::format("no end after {:.1f} s; observed so far: {}", limit_s, res.observed);
  } else if (WIFSIGNALED(status) && !rep.done && rep.exit_kind.empty()) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    res.verdict = Verdict::crash;
    res.reason = fmt::format("child killed by signal {} ({})", abbrev ? abbrev : "?", strsignal(WTERMSIG(status)));
    const std::string& tail = proc.err_tail;
    if (!tail.empty()) res.reason += "; stderr: " + tail.substr(tail.size() > 300 ? tail.size() - 300 : 0);
  } else if (rep.exit_kind == "skip" || rep.exit_kind == "broken") {
    res.verdict = rep.exit_kind == "skip" ? Verdict::skip : Verdict::broken;
    res.reason = rep.exit_reason;
  } else if (!rep.done) {
    res.verdict = Verdict::broken;
    res.reason = fmt::format("child ended (status {}) without finishing", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  } else {
    classify_finished(res, rep, exp);
  }
}

}  // namespace

void ChildReport::absorb(const std::string& line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (...) {
    failures.push_back("unparseable report line from the case: " + line.substr(0, 200));
    return;
  }
  // Valid JSON that is not a report object (a stray "[...]" or number written to the report
  // fd) fails the case, never the run: j.value() would throw on it.
  if (!j.is_object()) {
    failures.push_back("report line from the case is not an object: " + line.substr(0, 200));
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
    seen.push_back({o.token(), o.phase});
    observations.push_back(std::move(o));
  } else if (t == "fail") {
    failures.push_back(j.value("what", ""));
  } else if (t == "conv") {
    conventions.push_back(j.value("what", ""));
  } else if (t == "note") {
    notes.push_back(j.value("text", ""));
  } else if (t == "exit") {
    exit_kind = j.value("kind", "");
    exit_reason = j.value("reason", "");
  } else if (t == "done") {
    done = true;
  }
}

CaseProcess::~CaseProcess() {
  if (pid > 0 && !reaped) {
    kill_group();
    reap_blocking();
  }
  for (int fd : {pidfd, out_fd, err_fd})
    if (fd >= 0) close(fd);
}

namespace {
// Appends what the pipe holds now; false (and the fd closed) at its end.
bool read_pipe(int& fd, std::string& into) {
  char buf[8192];
  ssize_t k = read(fd, buf, sizeof buf);
  if (k < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (k <= 0) {
    close(fd);
    fd = -1;
    return false;
  }
  into.append(buf, static_cast<size_t>(k));
  return true;
}
}  // namespace

void CaseProcess::read_out() {
  if (!read_pipe(out_fd, pending)) return;
  size_t start = 0, nl;
  while ((nl = pending.find('\n', start)) != std::string::npos) {
    report.absorb(pending.substr(start, nl - start));
    start = nl + 1;
  }
  pending.erase(0, start);
}

void CaseProcess::read_err() {
  if (read_pipe(err_fd, err_tail) && err_tail.size() > 2048) err_tail.erase(0, err_tail.size() - 2048);
}

void CaseProcess::kill_group() {
  if (killed || pid <= 0) return;
  // The whole group: glibc AIO worker threads die with the process, and any
  // helper the scenario forked is in the same group.
  kill(-pid, SIGKILL);
  killed = true;
}

bool CaseProcess::try_reap() {
  if (reaped) return true;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == pid) reaped = true;
  return reaped;
}

void CaseProcess::reap_blocking() {
  while (!reaped && waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  reaped = true;
}

Runner::Runner(const Environment& env, RunOptions opts)
    : env_(env), opts_(std::move(opts)), run_tag_(run_tag_for(getpid())) {}

CasePlan Runner::plan(const CaseRun& c) {
  CasePlan p = plan_at(c, seq_);
  if (!p.final) seq_++;
  return p;
}

CasePlan Runner::plan_at(const CaseRun& c, unsigned seq) const {
  const CaseRow& row = *c.row;
  CasePlan p;
  p.run = &c;
  Result& res = p.res;
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
  p.params = row.params;
  if (std::string tname = run_target(c); !tname.empty()) {
    tgt = opts_.targets ? opts_.targets->find(tname) : nullptr;
    if (tgt) res.target = tgt->record();
    if (!tgt || !tgt->reason.empty()) {
      set_final(p, Verdict::skip,
                fmt::format("target {} unavailable: {}", tname, tgt ? tgt->reason : "not created by this run"));
      return p;
    }
    p.target_env = &overlay_for(*tgt);
    if (tgt->raw()) p.params["target_device"] = tgt->device;
  }
  const Environment& env = p.target_env ? *p.target_env : env_;
  decide_xfail(res, row, env);
  p.exp = row.expectation_for(c.interface, env);
  res.expected = p.exp ? p.exp->text : "";
  if (const auto& ff = row.fault_fails) {
    bool holds = ff->pred.eval(env);
    p.fault_other = holds ? ff->else_name : ff->then_name;
    if (env.facts.count(ff->pred.fact)) p.fault_want = holds ? ff->then_name : ff->else_name;
    p.fault_why = ff->pred.text + (holds ? " holds" : " does not hold");
  }

  if (auto avail = env.interfaces.find(c.interface); avail != env.interfaces.end() && !avail->second.available) {
    set_final(p, Verdict::skip, c.interface + " unavailable: " + avail->second.reason);
    return p;
  }
  if (auto why = unmet_requirement(row, env, tgt); !why.empty()) {
    set_final(p, Verdict::skip, why);
    return p;
  }
  p.seq = seq;
  p.comm = case_comm(run_tag_, p.seq);
  p.dir = case_dir(tgt, p.seq);
  p.limit_s = row.timeout_s.value_or(opts_.timeout_s);
  return p;
}

CasePlan Runner::child_plan(const CaseRun& c, unsigned seq) const {
  CasePlan p;
  p.run = &c;
  p.params = c.row->params;
  const Target* tgt = nullptr;
  if (std::string tname = run_target(c); !tname.empty() && opts_.targets) {
    tgt = opts_.targets->find(tname);
    if (tgt) {
      p.target_env = &overlay_for(*tgt);
      if (tgt->raw()) p.params["target_device"] = tgt->device;
    }
  }
  p.seq = seq;
  p.comm = case_comm(run_tag_, seq);
  p.dir = case_dir(tgt, seq);
  return p;
}

std::string Runner::case_dir(const Target* tgt, unsigned seq) const {
  return fmt::format("{}/case-{:04}", tgt && !tgt->raw() ? tgt->dir : opts_.scratch_dir, seq);
}

const Environment& Runner::overlay_for(const Target& t) const {
  auto it = overlays_.find(t.name);
  if (it == overlays_.end()) it = overlays_.emplace(t.name, overlay(env_, t)).first;
  return it->second;
}

void Runner::prepare_targets() {
  if (!opts_.targets) return;
  for (const Target& t : opts_.targets->all())
    if (t.reason.empty()) overlay_for(t);
}

pid_t Runner::fork_case(const CaseRun& c, unsigned seq, faults::FaultState* st, int* out_r, int* err_r,
                        std::string* err) const {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    *err = "pipe2 failed";
    return -1;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    *err = "pipe2 failed";
    return -1;
  }
  pid_t harness = getpid();  // the forking process (the fork server, or the harness)
  if (!g_dispositions.fixed || g_dispositions.owner != harness) read_dispositions(g_dispositions);
  pid_t pid = fork();
  if (pid == 0) {
    system::harden_case_child(harness);  // dies with the harness
    close(out_pipe[0]);
    close(err_pipe[0]);
    // A child whose stdio could not be replaced would share the harness's own:
    // it ends broken rather than run.
    int devnull = open("/dev/null", O_RDWR);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0 ||
        dup2(err_pipe[1], STDERR_FILENO) < 0) {
      Reporter(out_pipe[1]).exit("broken", "case child: replacing stdio failed: " + errno_name(errno));
      _exit(0);
    }
    // Nothing else the harness holds reaches the case: not its output files,
    // target device holds, locks, the fork server's socket or signalfd.
    std::vector<int> keep = system::held_settings_lock_fds();
    keep.insert(keep.end(), {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, out_pipe[1], Journal::held_fd()});
    system::close_inherited_fds(keep);
    // The plan is made again here, in the child's own memory, so the process
    // that forks (the fork server) writes nothing between forks.
    CasePlan p = child_plan(c, seq);
    g_fault_state = st;
    g_fault_seed = c.row->fault ? faults::case_seed(opts_.fault_seed, c.id) : 0;
    child_main(p, p.target_env ? *p.target_env : env_, out_pipe[1]);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    *err = fmt::format("fork failed: {}", errno_name(errno));
    return -1;
  }
  setpgid(pid, pid);
  *out_r = out_pipe[0];
  *err_r = err_pipe[0];
  return pid;
}

void remember_dispositions() {
  read_dispositions(g_dispositions);
  g_dispositions.fixed = true;
}

void Runner::watch(const CasePlan& p, CaseProcess& proc, pid_t pid, int out_r, int err_r, bool pidfd) {
  proc.pid = pid;
  proc.out_fd = out_r;
  proc.err_fd = err_r;
  fcntl(proc.out_fd, F_SETFL, O_NONBLOCK);
  fcntl(proc.err_fd, F_SETFL, O_NONBLOCK);
  // Without a pidfd (before Linux 5.3) the child is reaped by polling.
  if (pidfd) proc.pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  proc.deadline = proc.t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(p.limit_s));
}

bool Runner::spawn(CasePlan& p, CaseProcess& proc) {
  int out_r = -1, err_r = -1;
  std::string err;
  if (p.run->row->fault) {
    p.fault_state = faults::state_alloc();
    p.fault_seed = faults::case_seed(opts_.fault_seed, p.run->id);
  }
  fflush(nullptr);  // nothing buffered here is written twice
  proc.t0 = Clock::now();
  pid_t pid = fork_case(*p.run, p.seq, p.fault_state, &out_r, &err_r, &err);
  if (pid < 0) {
    set_final(p, Verdict::broken, err);
    return false;
  }
  watch(p, proc, pid, out_r, err_r, true);
  return true;
}

Result Runner::finish(CasePlan& p, CaseProcess& proc) {
  const CaseRow& row = *p.run->row;
  Result res = std::move(p.res);
  res.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - proc.t0).count();
  res.observations = proc.report.observations;
  res.observed = observed_text(proc.report.seen);
  res.notes = proc.report.notes;
  res.stderr_tail = proc.err_tail;
  if (row.fault) {
    res.fault = faults::record(*row.fault, p.fault_seed, p.fault_state);
    if (!p.fault_state_pooled) faults::state_free(p.fault_state);
    p.fault_state = nullptr;
  }
  remove_tree(p.dir);
  // Whatever the child changed and could not restore (it was killed, or it
  // crashed) is undone now, before anything that needs it runs.
  std::vector<std::string> restored = Journal::run_journal().undo_pid(proc.pid);
  classify(res, p.exp, proc, p.limit_s, restored);
  if (row.fault_fails) apply_fault_prediction(res, p.fault_want, p.fault_other, p.fault_why);
  return res;
}

void apply_fault_prediction(Result& res, const std::string& want, const std::string& other, const std::string& why) {
  if (!res.fault || !res.fault->fired() || (res.verdict != Verdict::pass && res.verdict != Verdict::fail)) return;
  const std::string& rb = res.fault->readback;
  auto failed = [&](const std::string& name) { return rb.find("failed " + name) != std::string::npos; };
  if (want.empty()) {
    res.notes.push_back("fault.fails: the probe did not decide its fact, either alternative is accepted (" + rb + ")");
    return;
  }
  if (failed(want) && !failed(other)) return;
  res.reason = fmt::format("the fault failed {}, but {}: the call should make {}", failed(other) ? other : "neither alternative",
                           why, want) +
               (res.reason.empty() ? "" : "; " + res.reason);
  res.verdict = Verdict::fail;
}

void classify(Result& res, const Expectation* exp, const CaseProcess& proc, double limit_s,
              const std::vector<std::string>& restored) {
  classify_ending(res, proc.report, proc, exp, limit_s);
  // A fault that did not fire tested nothing: broken, never pass (or fail).
  if (res.fault && !res.fault->fired() && (res.verdict == Verdict::pass || res.verdict == Verdict::fail)) {
    res.reason = fmt::format("the fault did not fire ({}, {} matching calls)", res.fault->fiu, res.fault->calls) +
                 (res.reason.empty() ? "" : "; " + res.reason);
    res.verdict = Verdict::broken;
  }
  bool restore_failed = false;
  for (auto& r : restored) {
    res.notes.push_back("restored after the case: " + r);
    restore_failed |= r.size() < 4 || r.compare(r.size() - 4, 4, ": ok") != 0;
  }
  if (restore_failed) {
    res.verdict = Verdict::broken;
    res.reason = "could not restore what the case changed: " + join(restored, "; ") +
                 (res.reason.empty() ? "" : "; " + res.reason);
  }
}

void apply_kernel_log(Result& res, const std::string& why) {
  if (why.empty()) return;
  res.verdict = Verdict::fail;
  res.reason = "kernel-log: " + why + (res.reason.empty() ? "" : "; " + res.reason);
}

void apply_xfail(Result& res, const CaseRow& row) {
  if (!res.xfail) return;
  if (res.verdict == Verdict::fail) {
    res.verdict = Verdict::xfail;
  } else if (res.verdict == Verdict::pass) {
    res.verdict = Verdict::xpass;
    res.reason = "known defect did not reproduce: " + row.xfail->ref;
  }
}

// The handlers live in system/signals.cc (installed at main's start).
void install_stop_handlers() { system::install_stop_handlers(); }

int stop_signal() { return system::stop_signal(); }

}  // namespace aioh
