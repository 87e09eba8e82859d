// The event loop over every case in flight, admission by resource class, the
// kernel log's attribution and solo reruns, repeats, shards (see scheduler.h).
#include "scheduler.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kernel_log.h"
#include "resources.h"
#include "spawner.h"
#include "system/settings.h"

namespace aioh {
namespace {

using Clock = std::chrono::steady_clock;

// One execution of one case.
struct Task {
  size_t index = 0;  // into the run's cases (catalog order)
  unsigned repeat = 0;
  ResourceClaim claim;
  double expected_ms = 0;
  uint64_t rerun_of = 0;       // an ambiguous kernel-log event: this is a solo rerun to place it
  uint64_t rerun_suspect = 0;  // the key of the case it reruns
  std::shared_ptr<CasePlan> plan;  // planned while it waited for its turn
};

// A task from its start until its result is out.
struct Live {
  uint64_t key = 0;
  Task task;
  CasePlan plan;
  CaseProcess proc;
  enum class State { running, reaping, held } state = State::running;
  Result result;
  std::vector<std::string> kmsg, notes;  // kernel-log failures, notes the kernel log adds
  std::set<uint64_t> awaiting;            // ambiguous events to place before it is out
  bool reproduced = false;                // a rerun: the event came back while it ran alone
  bool via_spawner = false;               // its child came from the fork server, which reaps it
};

// A kernel-log event several cases could have caused, until their reruns say.
struct Ambiguous {
  KernelEvent ev;
  std::vector<uint64_t> suspects;
  std::vector<std::string> ids;
  size_t reruns_left = 0;
  std::vector<uint64_t> culprits;
  bool stopped = false;
};

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// How long a case is expected to take: the last run's duration, else the
// delay its fault holds a request for (the long poles), else unknown (0).
double expected_ms(const CaseRun& c, const std::map<std::string, double>& last) {
  if (auto it = last.find(c.id); it != last.end()) return it->second;
  if (!c.row->fault) return 0;
  const std::string& e = c.row->fault->effect;
  for (const char* pre : {"delay:", "delay_ms:"})
    if (e.rfind(pre, 0) == 0) return strtod(e.c_str() + strlen(pre), nullptr);
  return 0;
}

// A line on stderr; fputs, not fmt::print (which throws): stderr may be a closed pipe.
void say(const std::string& line) { fputs(("harness: " + line + "\n").c_str(), stderr); }

int ms_until(Clock::time_point t) {
  auto d = std::chrono::duration_cast<std::chrono::microseconds>(t - Clock::now()).count();
  return d <= 0 ? 0 : static_cast<int>(std::min<long long>((d + 999) / 1000, 60000));
}

}  // namespace

int default_jobs() {
  cpu_set_t set;
  int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  return std::clamp(cpus * 8, 2, 64);
}

struct Scheduler::Impl {
  Scheduler& self;
  Runner& runner;
  const std::vector<CaseRun>& cases;
  const std::function<void(const Result&, size_t)>& on_result;
  const std::function<void(const CaseRun&)>& on_start;
  KernelLogOracle oracle;
  ResourceBudget budget;
  std::deque<Task> queue;
  std::map<uint64_t, std::unique_ptr<Live>> live;
  std::map<uint64_t, Ambiguous> ambiguous;
  std::vector<std::vector<Result>> repeats;
  std::unique_ptr<Spawner> spawner;
  uint64_t next_key = 1, next_event = 1;
  std::map<size_t, Result> in_order;  // -j1: results waiting for the ones before them
  size_t next_in_order = 0;
  bool stopping = false;
  // The global settings held in use while cases that depend on them run;
  // while another run changes one, those cases wait (and the loop looks again soon).
  system::SettingsInUse settings;
  int settings_users = 0;
  bool settings_blocked = false, settings_said = false;

  Impl(Scheduler& s, Runner& r, const std::vector<CaseRun>& c, const std::function<void(const Result&, size_t)>& cb,
       const std::function<void(const CaseRun&)>& started, int jobs)
      : self(s), runner(r), cases(c), on_result(cb), on_start(started),
        oracle(KernelLogOracle::Options{r.options().kernel_log, r.options().kmsg_path, r.options().taint_path,
                                        r.run_tag()}),
        budget(r.env(), jobs) {}

  void build_queue();
  void loop();
  void admit();
  bool quiet() const;
  bool skips(Task& t);
  bool settings_free(const Task& t, int* cached);
  void start(Task t);
  bool spawn(Live& l);
  void take_statuses();
  void wait();
  void to_reaping(Live& l);
  void end_case(Live& l);
  void decide(const KernelEvent& ev);
  void outside(const KernelEvent& ev, const std::string& why);
  void open_ambiguous(const KernelEvent& ev, std::vector<uint64_t> suspects);
  void resolve(uint64_t id);
  void emit_ready();
  void rerun_done(Live& l);
  void deliver(Result r, size_t index);
  void hand_on(Result r, size_t index);
  void stop();
};

void Scheduler::Impl::build_queue() {
  // The run's targets (a raw one is serial per target).
  const TargetSet* set = runner.options().targets;
  std::vector<Target> specs = set ? set->all() : default_targets();
  std::vector<Task> tasks;
  for (unsigned rep = 0; rep < static_cast<unsigned>(self.opts_.repeat); rep++)
    for (size_t i = 0; i < cases.size(); i++)
      tasks.push_back(Task{i, rep, derive_claim(cases[i], specs, &runner.env()),
                           expected_ms(cases[i], self.opts_.expected_ms), 0, 0, nullptr});
  if (budget.jobs() > 1) {
    // Exclusive cases first, one after another, while nothing else runs;
    // then those on a serial key (its chain is a long pole: it starts at
    // once), then the rest, the longest first so they overlap the others.
    std::stable_sort(tasks.begin(), tasks.end(), [](const Task& a, const Task& b) {
      if (a.claim.exclusive != b.claim.exclusive) return a.claim.exclusive;
      if (a.claim.serial.empty() != b.claim.serial.empty()) return !a.claim.serial.empty();
      return a.expected_ms > b.expected_ms;
    });
  }
  queue.assign(tasks.begin(), tasks.end());
  if (self.opts_.repeat > 1) repeats.resize(cases.size());
}

// Nothing runs and no window of the kernel log is still open: a rerun now is alone.
bool Scheduler::Impl::quiet() const {
  if (budget.in_flight() > 0) return false;
  for (auto& [k, l] : live)
    if (oracle.pending(k)) return false;
  return true;
}

// A task waiting for its turn is planned once: a case that skips (a
// requirement the probe rules out) needs no resources and goes at once.
bool Scheduler::Impl::skips(Task& t) {
  if (!t.plan) t.plan = std::make_shared<CasePlan>(runner.plan(cases[t.index]));
  return t.plan->final;
}

// Another run changing fs.aio-max-nr or kernel.io_uring_disabled holds back
// the cases that create AIO contexts or rings (the others go on); the answer
// holds for one pass over the queue.
bool Scheduler::Impl::settings_free(const Task& t, int* cached) {
  if (!t.claim.settings_in_use) return true;
  if (*cached < 0) {
    std::string holder;
    *cached = settings.try_hold(&holder);
    if (!*cached && !settings_said)
      say(fmt::format("another run is changing a global setting ({}); cases that create AIO contexts or io_uring "
                      "rings wait for it", holder));
    settings_said = !*cached;
  }
  settings_blocked |= !*cached;
  return *cached;
}

void Scheduler::Impl::admit() {
  settings_blocked = false;
  if (stopping) return;
  int settings_ok = -1;
  // Keys a waiting case needs: nobody later in the queue takes them first
  // (a writer of a raw target is not starved by the readers behind it).
  std::set<std::string> waiting;
  auto touches_waiting = [&](const ResourceClaim& c) {
    for (auto* keys : {&c.serial, &c.shared})
      for (auto& k : *keys)
        if (waiting.count(k)) return true;
    return false;
  };
  for (auto it = queue.begin(); it != queue.end();) {
    if (budget.in_flight() >= budget.jobs() || budget.exclusive_running()) break;
    Task& t = *it;
    if (t.rerun_of || t.claim.exclusive) {
      // Alone: only from the head of the queue, once the machine has drained.
      bool blocked = it != queue.begin() || !(t.rerun_of ? quiet() : budget.in_flight() == 0);
      if (blocked && (t.rerun_of || !skips(t))) break;
      if (t.rerun_of && !settings_free(t, &settings_ok)) break;
    } else if ((touches_waiting(t.claim) || !budget.fits(t.claim) || !settings_free(t, &settings_ok)) && !skips(t)) {
      for (auto* keys : {&t.claim.serial, &t.claim.shared}) waiting.insert(keys->begin(), keys->end());
      ++it;  // a key or a budget is taken: the next one may fit
      continue;
    }
    Task task = *it;
    it = queue.erase(it);
    start(std::move(task));
  }
  if (settings_users == 0) settings.release();  // what was admitted skipped without a child
}

// The child comes from the fork server while it lives, else from here.
bool Scheduler::Impl::spawn(Live& l) {
  if (spawner && !spawner->dead()) {
    std::string err;
    if (spawner->spawn(l.task.index, l.plan, l.proc, &err)) return l.via_spawner = true;
    if (!spawner->dead()) {
      l.plan.res.verdict = Verdict::broken;
      l.plan.res.reason = err;
      l.plan.final = true;
      return false;
    }
    say(fmt::format("the fork server is gone ({}); cases are forked by the harness itself", err));
  }
  return runner.spawn(l.plan, l.proc);
}

void Scheduler::Impl::start(Task t) {
  auto l = std::make_unique<Live>();
  l->key = next_key++;
  l->task = std::move(t);
  const CaseRun& c = cases[l->task.index];
  l->plan = l->task.plan ? std::move(*l->task.plan) : runner.plan(c);
  l->task.plan.reset();
  if (l->plan.final) {
    l->result = std::move(l->plan.res);
    l->state = Live::State::held;
  } else {
    oracle.open_window(l->key, l->plan.seq, c.id);
    if (spawn(*l)) {
      oracle.set_pid(l->key, l->proc.pid);
      budget.take(l->task.claim);
      settings_users += l->task.claim.settings_in_use;
      if (on_start && !l->task.rerun_of) on_start(c);
    } else {
      oracle.close_window(l->key, c.id);
      l->result = std::move(l->plan.res);
      l->state = Live::State::held;
    }
  }
  live[l->key] = std::move(l);
}

void Scheduler::Impl::to_reaping(Live& l) {
  l.proc.kill_group();
  l.state = Live::State::reaping;
  if (l.via_spawner) spawner->reap(l.proc.pid);
  else if (l.proc.try_reap()) end_case(l);
}

void Scheduler::Impl::end_case(Live& l) {
  budget.give(l.task.claim);
  if (l.task.claim.settings_in_use && --settings_users == 0) settings.release();
  oracle.close_window(l.key, cases[l.task.index].id);
  faults::FaultState* st = l.plan.fault_state_pooled ? l.plan.fault_state : nullptr;
  l.result = runner.finish(l.plan, l.proc);
  if (st) spawner->release(st);
  l.state = Live::State::held;
}

// The fork server said how its children ended; when it is gone, a child it
// can no longer reap counts as killed.
void Scheduler::Impl::take_statuses() {
  if (!spawner) return;
  for (auto [pid, status] : spawner->statuses())
    for (auto& [k, lp] : live)
      if (lp->via_spawner && lp->proc.pid == pid && lp->state == Live::State::reaping) {
        lp->proc.status = status < 0 ? SIGKILL : status;
        lp->proc.reaped = true;
        end_case(*lp);
      }
  if (!spawner->dead()) return;
  for (auto& [k, lp] : live)
    if (lp->via_spawner && lp->state == Live::State::reaping) {
      lp->proc.report.failures.push_back("the harness's fork server ended before it reaped this case's child");
      lp->proc.status = SIGKILL;
      lp->proc.reaped = true;
      end_case(*lp);
    }
}

void Scheduler::Impl::wait() {
  std::vector<pollfd> fds;
  std::vector<std::pair<Live*, int>> who;  // 0 out, 1 err, 2 pidfd; nullptr: the oracle or the fork server
  if (oracle.fd() >= 0) fds.push_back({oracle.fd(), POLLIN, 0}), who.push_back({nullptr, 3});
  if (spawner && !spawner->dead()) fds.push_back({spawner->fd(), POLLIN, 0}), who.push_back({nullptr, 4});
  const size_t fixed = fds.size();
  std::optional<Clock::time_point> wake = oracle.next_deadline();
  auto take = [&](Clock::time_point t) {
    if (!wake || t < *wake) wake = t;
  };
  bool poll_reap = false;
  for (auto& [k, lp] : live) {
    Live& l = *lp;
    if (l.state == Live::State::running) {
      if (l.proc.out_fd >= 0) fds.push_back({l.proc.out_fd, POLLIN, 0}), who.push_back({&l, 0});
      if (l.proc.err_fd >= 0) fds.push_back({l.proc.err_fd, POLLIN, 0}), who.push_back({&l, 1});
      take(l.proc.deadline);
    } else if (l.state == Live::State::reaping && !l.via_spawner) {
      if (l.proc.pidfd >= 0) fds.push_back({l.proc.pidfd, POLLIN, 0}), who.push_back({&l, 2});
      else poll_reap = true;  // no pidfd (before Linux 5.3): look again soon
    }
  }
  int timeout = wake ? ms_until(*wake) : -1;
  if (poll_reap) timeout = timeout < 0 ? 1 : std::min(timeout, 1);
  if (settings_blocked) timeout = timeout < 0 ? 20 : std::min(timeout, 20);
  if (fds.size() == fixed && timeout < 0 && !std::any_of(live.begin(), live.end(), [](auto& kv) {
        return kv.second->via_spawner && kv.second->state == Live::State::reaping;
      }))
    return;  // nothing to wait for
  int n = poll(fds.data(), fds.size(), timeout);
  for (size_t i = fixed; n > 0 && i < fds.size(); i++) {
    if (!fds[i].revents) continue;
    auto [l, which] = who[i];
    if (which == 0 && l->proc.out_fd >= 0) l->proc.read_out();
    else if (which == 1 && l->proc.err_fd >= 0) l->proc.read_err();
  }
  oracle.drain();
  take_statuses();
  auto now = Clock::now();
  for (auto& [k, lp] : live) {
    Live& l = *lp;
    if (l.state == Live::State::running && !l.proc.streams_open()) {
      to_reaping(l);
    } else if (l.state == Live::State::running && now >= l.proc.deadline) {
      l.proc.timed_out = true;
      to_reaping(l);
    } else if (l.state == Live::State::reaping && !l.via_spawner && l.proc.try_reap()) {
      end_case(l);
    }
  }
  take_statuses();
}

void Scheduler::Impl::outside(const KernelEvent& ev, const std::string& why) {
  std::string line = fmt::format("kernel-log event outside this run's cases ({}): {}", why, ev.excerpt);
  say(line);
  self.outside_.push_back(line);
  for (auto k : ev.suspects)
    if (auto it = live.find(k); it != live.end()) it->second->notes.push_back("not this case's: " + line);
}

void Scheduler::Impl::decide(const KernelEvent& ev) {
  using O = KernelEvent::Origin;
  if (ev.origin == O::case_task) {
    auto it = live.find(ev.culprit);
    if (it == live.end()) return outside(ev, "a case of this run whose result was already written");
    if (it->second->task.rerun_of) it->second->reproduced = true;
    else it->second->kmsg.push_back(ev.excerpt);
    return;
  }
  if (ev.origin != O::anonymous) return outside(ev, ev.origin_text());
  std::vector<uint64_t> suspects;
  for (auto k : ev.suspects) {
    auto it = live.find(k);
    if (it == live.end()) continue;
    if (it->second->task.rerun_of) it->second->reproduced = true;  // a rerun runs alone: it is its
    else suspects.push_back(k);
  }
  if (suspects.empty()) {
    bool rerun = std::any_of(ev.suspects.begin(), ev.suspects.end(), [&](uint64_t k) { return live.count(k); });
    if (!rerun) outside(ev, ev.origin_text() + ", while none of this run's cases ran");
    return;
  }
  if (suspects.size() == 1 && ev.foreign_open.empty()) {
    live[suspects[0]]->kmsg.push_back(ev.excerpt);  // the only case in flight, as at -j1
    return;
  }
  open_ambiguous(ev, std::move(suspects));
}

// Several cases (or one beside another run's open case) were in flight:
// each runs again alone, first in the queue, and the event goes to those
// with which it comes back.
void Scheduler::Impl::open_ambiguous(const KernelEvent& ev, std::vector<uint64_t> suspects) {
  uint64_t id = next_event++;
  Ambiguous& a = ambiguous[id];
  a.ev = ev;
  a.suspects = suspects;
  a.reruns_left = suspects.size();
  std::vector<Task> reruns;
  for (auto k : suspects) {
    Live& l = *live[k];
    l.awaiting.insert(id);
    a.ids.push_back(cases[l.task.index].id);
    Task t = l.task;
    t.rerun_of = id;
    t.rerun_suspect = k;
    reruns.push_back(t);
  }
  say(fmt::format("kernel-log event while {} ran ({}): running each alone to place it", join(a.ids, ", "),
                  ev.origin_text()));
  queue.insert(queue.begin(), reruns.begin(), reruns.end());
  if (stopping) {
    a.stopped = true;
    a.reruns_left = 0;
    std::erase_if(queue, [&](const Task& t) { return t.rerun_of == id; });
    resolve(id);
  }
}

void Scheduler::Impl::resolve(uint64_t id) {
  Ambiguous a = std::move(ambiguous[id]);
  ambiguous.erase(id);
  const std::string ids = join(a.ids, ", ");
  for (auto k : a.suspects) {
    auto it = live.find(k);
    if (it == live.end()) continue;
    Live& l = *it->second;
    l.awaiting.erase(id);
    bool culprit = std::find(a.culprits.begin(), a.culprits.end(), k) != a.culprits.end();
    if (culprit) {
      l.kmsg.push_back(fmt::format("{} (it came back when this case ran alone; in flight were {})", a.ev.excerpt, ids));
    } else if (!a.culprits.empty()) {
      l.notes.push_back(fmt::format("kernel-log event while it ran beside {}, placed by running each alone; not this case's: {}",
                                    ids, a.ev.excerpt));
    } else if (a.ev.foreign_open.empty()) {
      l.kmsg.push_back(fmt::format("{} (appeared while {} ran; {}, so any of them may have caused it)", a.ev.excerpt,
                                   ids, a.stopped ? "the run stopped before each could run alone"
                                                  : "none made it again when it ran alone"));
    }
  }
  if (a.culprits.empty() && !a.ev.foreign_open.empty())
    outside(a.ev, fmt::format("another run's case was open ({}) and none of {} made it again alone",
                              join(a.ev.foreign_open, ", "), ids));
}

void Scheduler::Impl::rerun_done(Live& l) {
  auto it = ambiguous.find(l.task.rerun_of);
  if (it == ambiguous.end()) return;
  if (l.reproduced || !l.kmsg.empty()) it->second.culprits.push_back(l.task.rerun_suspect);
  if (--it->second.reruns_left == 0) resolve(it->first);
}

// -j1 hands results on in catalog order, as it always did (a skip that is
// final at once would otherwise overtake the case before it, still in its
// kernel-log grace); -jN in completion order.
void Scheduler::Impl::hand_on(Result r, size_t index) {
  if (budget.jobs() > 1) return on_result(r, index);
  in_order.emplace(index, std::move(r));
  while (!in_order.empty() && in_order.begin()->first == next_in_order) {
    on_result(in_order.begin()->second, next_in_order++);
    in_order.erase(in_order.begin());
  }
}

void Scheduler::Impl::deliver(Result r, size_t index) {
  apply_xfail(r, *cases[index].row);
  if (repeats.empty()) return hand_on(std::move(r), index);
  auto& got = repeats[index];
  got.push_back(std::move(r));
  if (got.size() < static_cast<size_t>(self.opts_.repeat)) return;
  bool changed = false;
  Result merged = merge_repeats(got, &changed);
  if (changed) self.flaky_.push_back(merged.id + ": " + merged.reason.substr(0, merged.reason.find(':')));
  got.clear();
  hand_on(std::move(merged), index);
}

void Scheduler::Impl::emit_ready() {
  for (auto& ev : oracle.take_events()) decide(ev);
  std::vector<uint64_t> done;
  for (auto& [k, lp] : live)
    if (lp->state == Live::State::held && lp->awaiting.empty() && !oracle.pending(k)) done.push_back(k);
  for (auto k : done) {
    auto node = live.extract(k);
    Live& l = *node.mapped();
    oracle.forget(k);
    if (l.task.rerun_of) {
      rerun_done(l);
      continue;
    }
    for (auto& n : l.notes) l.result.notes.push_back(n);
    apply_kernel_log(l.result, join(l.kmsg, " | "));
    deliver(std::move(l.result), l.task.index);
  }
}

// A stop signal: nothing new starts; what runs finishes (or meets its
// watchdog); an event waiting for reruns is placed as far as it can be.
void Scheduler::Impl::stop() {
  stopping = true;
  queue.clear();
  std::vector<uint64_t> ids;
  for (auto& [id, a] : ambiguous) ids.push_back(id);
  for (auto id : ids) {
    ambiguous[id].stopped = true;
    resolve(id);
  }
}

void Scheduler::Impl::loop() {
  build_queue();
  runner.prepare_targets();  // before the fork server forks: its children share them
  spawner = Spawner::start(runner, cases, budget.jobs() + 1);
  if (spawner) oracle.add_own_pid(spawner->pid());
  while (!queue.empty() || !live.empty()) {
    if (!stopping && stop_signal()) stop();
    admit();
    wait();
    emit_ready();
  }
  // A stopped run's partial repeats: what ran is reported.
  for (size_t i = 0; i < repeats.size(); i++)
    if (!repeats[i].empty()) {
      bool changed = false;
      hand_on(merge_repeats(repeats[i], &changed), i);
    }
  settings.release();
  for (auto& [i, r] : in_order) on_result(r, i);  // a stopped run: what finished, in order
  if (oracle.lost()) {
    std::string line = fmt::format("the kernel log ring overwrote records before they were read ({} times)", oracle.lost());
    say(line);
    self.outside_.push_back(line);
  }
}

Scheduler::Scheduler(Runner& runner, SchedulerOptions o) : runner_(runner), opts_(std::move(o)) {
  if (opts_.jobs <= 0) opts_.jobs = default_jobs();
  opts_.repeat = std::max(1, opts_.repeat);
}

Scheduler::~Scheduler() = default;

void Scheduler::run(const std::vector<CaseRun>& cases, const std::function<void(const Result&, size_t)>& on_result,
                    const std::function<void(const CaseRun&)>& on_start) {
  Impl impl(*this, runner_, cases, on_result, on_start, opts_.jobs);
  impl.loop();
}

void OrderedResults::add(size_t index, const Result& r) {
  held_.emplace(index, r);
  while (!held_.empty() && held_.begin()->first == next_) {
    sink_(held_.begin()->second);
    held_.erase(held_.begin());
    next_++;
  }
}

void OrderedResults::flush() {
  for (auto& [i, r] : held_) sink_(r);
  held_.clear();
}

Result merge_repeats(const std::vector<Result>& runs, bool* changed) {
  *changed = false;
  if (runs.empty()) return {};
  std::map<Verdict, int> count;
  for (auto& r : runs) count[r.verdict]++;
  if (count.size() == 1) {
    Result r = runs.front();
    if (runs.size() > 1) r.notes.push_back(fmt::format("the same verdict in {} repeats", runs.size()));
    return r;
  }
  *changed = true;
  // The repeat that fails the run, else the first that differs from the first.
  auto pick = std::find_if(runs.begin(), runs.end(), [](const Result& r) { return verdict_def(r.verdict).fails_run; });
  if (pick == runs.end())
    pick = std::find_if(runs.begin(), runs.end(), [&](const Result& r) { return r.verdict != runs.front().verdict; });
  Result r = *pick;
  std::vector<std::string> tally;
  for (auto& [v, n] : count) tally.push_back(fmt::format("{}×{}", verdict_name(v), n));
  r.reason = fmt::format("verdict changed between {} repeats ({}): {}", runs.size(), join(tally, ", "), r.reason);
  for (size_t i = 0; i < runs.size(); i++)
    r.notes.push_back(fmt::format("repeat {}: {}{}", i + 1, verdict_name(runs[i].verdict),
                                  runs[i].reason.empty() ? "" : " (" + runs[i].reason.substr(0, 200) + ")"));
  return r;
}

std::optional<Shard> parse_shard(const std::string& text, std::string* error) {
  int i = 0, n = 0, used = 0;
  if (sscanf(text.c_str(), "%d/%d%n", &i, &n, &used) != 2 || used != static_cast<int>(text.size())) {
    *error = fmt::format("--shard '{}': expected I/N, e.g. 2/4", text);
    return std::nullopt;
  }
  if (n < 1 || i < 1 || i > n) {
    *error = fmt::format("--shard '{}': I must be between 1 and N, and N at least 1", text);
    return std::nullopt;
  }
  return Shard{i, n};
}

std::vector<size_t> shard_indices(const std::vector<std::string>& ids, Shard s,
                                  const std::map<std::string, double>& durations) {
  std::vector<size_t> out;
  if (durations.empty()) {
    for (size_t k = static_cast<size_t>(s.index - 1); k < ids.size(); k += static_cast<size_t>(s.count)) out.push_back(k);
    return out;
  }
  std::vector<double> known;
  for (auto& id : ids)
    if (auto it = durations.find(id); it != durations.end()) known.push_back(it->second);
  std::sort(known.begin(), known.end());
  double median = known.empty() ? 1 : known[known.size() / 2];
  std::vector<std::pair<double, size_t>> order;
  for (size_t k = 0; k < ids.size(); k++) {
    auto it = durations.find(ids[k]);
    order.push_back({it == durations.end() ? median : it->second, k});
  }
  std::stable_sort(order.begin(), order.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<double> load(static_cast<size_t>(s.count), 0);
  for (auto& [ms, k] : order) {
    size_t to = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[to] += ms;
    if (to == static_cast<size_t>(s.index - 1)) out.push_back(k);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, double> load_durations(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(fmt::format("cannot read --durations file {}", path));
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::map<std::string, double> out;
  auto take = [&](const nlohmann::json& r) {
    if (r.is_object() && r.contains("id") && r.contains("duration_ms") && r["duration_ms"].is_number())
      out[r["id"].get<std::string>()] = r["duration_ms"].get<double>();
  };
  try {
    auto doc = nlohmann::json::parse(text, nullptr, true);
    if (!doc.is_object() || !doc.contains("results")) throw std::runtime_error("no results");
    for (auto& r : doc["results"]) take(r);
  } catch (...) {
    // jsonl: one object a line, results with "type": "result".
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      start = nl == std::string::npos ? text.size() : nl + 1;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const std::exception&) {
        throw std::runtime_error(fmt::format("--durations {}: neither a result document nor jsonl", path));
      }
      if (j.value("type", "") == "result") take(j);
    }
  }
  if (out.empty()) throw std::runtime_error(fmt::format("--durations {}: no results with a duration", path));
  return out;
}

// Runner's one-path entry points live here, beside what they drive, so the
// runner needs nothing of the scheduler (no include loop: scripts/include-graph).
Result Runner::run_one(const CaseRun& c) {
  Result out;
  Scheduler(*this, SchedulerOptions{1}).run({c}, [&](const Result& r, size_t) { out = r; });
  return out;
}

void Runner::run(const std::vector<CaseRun>& cases, const std::function<void(const Result&)>& on_result,
                 const std::function<void(const CaseRun&)>& on_start) {
  // A case already running finishes (or meets its watchdog); then the run
  // stops so targets, sysctls and the scratch dir are restored as usual.
  Scheduler(*this, SchedulerOptions{opts_.jobs}).run(cases, [&](const Result& r, size_t) { on_result(r); }, on_start);
}

}  // namespace aioh
