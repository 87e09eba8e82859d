// /dev/kmsg and taint watching over a run's case windows (see kernel_log.h).
#include "kernel_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <regex>

#include <fmt/format.h>

namespace aioh {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kExcerptMax = 600;
constexpr int kSplatLines = 40;            // lines after a splat's first one searched for its task
constexpr int kMarksPerOpen = 10;          // printk_devkmsg=ratelimit: 10 records per open file per 5 s
constexpr auto kForeignOpenMax = std::chrono::seconds(120);  // a mark left open by a killed run expires
constexpr unsigned long kPfKthread = 0x00200000;  // include/linux/sched.h PF_KTHREAD

std::string base36(unsigned long v) {
  std::string s;
  do {
    s.insert(s.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36]);
    v /= 36;
  } while (v);
  return s;
}

// /proc/PID/stat: the process group and the flags, or nullopt for a task that is gone.
struct TaskStat {
  pid_t pgrp;
  unsigned long flags;
};
std::optional<TaskStat> task_stat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  int fd = open(fmt::format("/proc/{}/stat", pid).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = 0;
  const char* rp = strrchr(buf, ')');
  if (!rp) return std::nullopt;
  // After "pid (comm) ": state ppid pgrp session tty_nr tpgid flags ...
  char state = 0;
  int ppid = 0, pgrp = 0, session = 0, tty = 0, tpgid = 0;
  unsigned long flags = 0;
  if (sscanf(rp + 2, "%c %d %d %d %d %d %lu", &state, &ppid, &pgrp, &session, &tty, &tpgid, &flags) != 7)
    return std::nullopt;
  if (state == 'Z' || state == 'X') return std::nullopt;
  return TaskStat{pgrp, flags};
}

bool is_end_of_splat(const std::string& text) { return text.find("---[ end trace") != std::string::npos; }

}  // namespace

std::string run_tag_for(pid_t pid) { return base36(static_cast<unsigned long>(pid)); }

std::string case_comm(const std::string& run_tag, unsigned seq) {
  return ("aioh" + run_tag + ":" + base36(seq)).substr(0, 15);
}

std::optional<CaseComm> parse_case_comm(std::string_view comm) {
  if (comm.substr(0, 4) != "aioh") return std::nullopt;
  auto colon = comm.find(':');
  if (colon == std::string_view::npos || colon == 4 || colon + 1 >= comm.size()) return std::nullopt;
  CaseComm c{std::string(comm.substr(4, colon - 4)), 0};
  for (char ch : comm.substr(colon + 1)) {
    int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'z' ? ch - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    c.seq = c.seq * 36 + static_cast<unsigned>(d);
  }
  return c;
}

std::optional<KmsgRecord> parse_kmsg_line(std::string_view line) {
  if (line.empty() || line[0] == ' ') return std::nullopt;
  auto semi = line.find(';');
  if (semi == std::string_view::npos) return std::nullopt;
  KmsgRecord r;
  unsigned long prio = 0;
  unsigned long long seq = 0;
  std::string head(line.substr(0, semi));
  if (sscanf(head.c_str(), "%lu,%llu", &prio, &seq) != 2) return std::nullopt;
  r.facility = static_cast<int>(prio >> 3);
  r.level = static_cast<int>(prio & 7);
  r.seq = seq;
  r.text = std::string(line.substr(semi + 1));
  return r;
}

bool is_kernel_splat(const std::string& line) {
  for (const char* pat : {"BUG:", "WARNING:", "Oops:", "Oops ", "general protection fault",
                          "kernel BUG at", "possible circular locking", "lockdep",
                          "rcu_sched self-detected stall", "rcu: INFO:", "INFO: task",
                          "UBSAN:", "KASAN:", "Kernel panic"})
    if (line.find(pat) != std::string::npos) return true;
  return false;
}

std::optional<SplatTask> splat_task(std::string_view line) {
  static const std::regex pid_comm(R"(PID: (\d+) Comm: (\S+))");
  static const std::regex pid_only(R"(CPU: \d+ (?:UID: \d+ )?PID: (\d+) )");
  static const std::regex by_task(R"(by task (\S+)/(\d+))");
  static const std::regex sleeping(R"(pid: (\d+), name: (\S+))");
  static const std::regex hung(R"(INFO: task (\S+):(\d+) )");
  static const std::regex lockdep(R"(^(\S+)/(\d+) is trying to acquire)");
  std::string s(line);
  std::smatch m;
  if (std::regex_search(s, m, pid_comm)) return SplatTask{std::stoi(m[1]), m[2]};
  if (std::regex_search(s, m, by_task) || std::regex_search(s, m, hung) || std::regex_search(s, m, lockdep))
    return SplatTask{std::stoi(m[2]), m[1]};
  if (std::regex_search(s, m, sleeping)) return SplatTask{std::stoi(m[1]), m[2]};
  if (std::regex_search(s, m, pid_only)) return SplatTask{std::stoi(m[1]), ""};
  return std::nullopt;
}

bool is_kernel_thread_name(std::string_view comm) {
  for (std::string_view p : {"kworker/", "ksoftirqd/", "swapper/", "migration/", "rcu_", "rcuc/", "rcuog/",
                             "rcuop/", "kthreadd", "kswapd", "kcompactd", "khugepaged", "irq/", "jbd2/",
                             "kblockd", "scsi_", "xfs", "btrfs", "oom_reaper", "watchdog", "cpuhp/",
                             "khungtaskd", "kauditd", "kdevtmpfs", "writeback", "loop", "nvme", "ext4-"})
    if (comm.substr(0, p.size()) == p) return true;
  return false;
}

std::string format_mark(bool begin, const std::string& id, const std::string& run_tag) {
  return fmt::format("aioharness: {} {} run={}", begin ? "begin" : "end", id, run_tag);
}

std::optional<KmsgMark> parse_mark(std::string_view text) {
  constexpr std::string_view kPrefix = "aioharness: ";
  if (text.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  text.remove_prefix(kPrefix.size());
  KmsgMark m;
  if (text.substr(0, 6) == "begin ") m.begin = true;
  else if (text.substr(0, 4) != "end ") return std::nullopt;
  text.remove_prefix(m.begin ? 6 : 4);
  auto sp = text.find(' ');
  m.id = std::string(text.substr(0, sp));
  if (sp != std::string_view::npos) {
    auto rest = text.substr(sp + 1);
    if (rest.substr(0, 4) == "run=") m.run_tag = std::string(rest.substr(4, rest.find(' ') == std::string_view::npos ? rest.size() - 4 : rest.find(' ') - 4));
  }
  return m.id.empty() ? std::nullopt : std::optional<KmsgMark>(m);
}

long read_taint(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[32] = {};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 ? strtol(buf, nullptr, 10) : 0;
}

std::string KernelEvent::origin_text() const {
  std::string who = task ? fmt::format("pid {}{}", task->pid, task->comm.empty() ? "" : " (" + task->comm + ")") : "";
  switch (origin) {
    case Origin::case_task: return "a task of the case: " + who;
    case Origin::own_process: return "the harness process itself: " + who;
    case Origin::foreign_task: return "a task outside this run: " + who;
    case Origin::foreign_run: return "a case of another aioharness run: " + who;
    case Origin::anonymous: return task ? "a kernel thread or a task that is gone: " + who : "no task named";
  }
  return who;
}

KernelLogOracle::KernelLogOracle(Options o) : opts_(std::move(o)) {
  if (!opts_.enabled) return;
  fd_ = open(opts_.kmsg_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) return;
  lseek(fd_, 0, SEEK_END);  // what is already in the ring is no case's
  taint_ = read_taint(opts_.taint_path);
  if (opts_.kmsg_path == "/dev/kmsg") {
    // Marks are for /dev/kmsg only; with printk_devkmsg=on nothing limits them.
    char mode[16] = {};
    int m = open("/proc/sys/kernel/printk_devkmsg", O_RDONLY | O_CLOEXEC);
    if (m >= 0) {
      (void)!read(m, mode, sizeof mode - 1);
      close(m);
    }
    marks_unlimited_ = strncmp(mode, "on", 2) == 0;
  }
}

KernelLogOracle::~KernelLogOracle() {
  if (fd_ >= 0) close(fd_);
  if (mark_fd_ >= 0) close(mark_fd_);
}

void KernelLogOracle::write_mark(const std::string& text) {
  if (fd_ < 0 || opts_.kmsg_path != "/dev/kmsg") return;
  // printk_devkmsg=ratelimit allows a burst of 10 records per open file: a
  // fresh open after each 10 keeps every mark.
  if (mark_fd_ >= 0 && !marks_unlimited_ && mark_writes_ >= kMarksPerOpen) {
    close(mark_fd_);
    mark_fd_ = -1;
  }
  if (mark_fd_ < 0) {
    mark_fd_ = open("/dev/kmsg", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    mark_writes_ = 0;
    if (mark_fd_ < 0) return;
  }
  std::string rec = "<6>" + text + "\n";
  (void)!write(mark_fd_, rec.data(), rec.size());
  mark_writes_++;
}

void KernelLogOracle::open_window(uint64_t key, unsigned seq, const std::string& id) {
  if (fd_ < 0) return;
  drain();
  check_taint();
  windows_[key] = Window{seq, -1, true, {}};
  write_mark(format_mark(true, id, opts_.run_tag));
}

void KernelLogOracle::set_pid(uint64_t key, pid_t pid) {
  if (auto it = windows_.find(key); it != windows_.end()) it->second.pid = pid;
}

void KernelLogOracle::close_window(uint64_t key, const std::string& id) {
  if (fd_ < 0) return;
  drain();
  check_taint();
  write_mark(format_mark(false, id, opts_.run_tag));
  if (auto it = windows_.find(key); it != windows_.end()) {
    it->second.open = false;
    it->second.grace_end = Clock::now() + opts_.grace;
  }
}

void KernelLogOracle::forget(uint64_t key) { windows_.erase(key); }

std::vector<uint64_t> KernelLogOracle::suspects(Clock::time_point now) const {
  std::vector<uint64_t> out;
  for (auto& [k, w] : windows_)
    if (w.open || w.grace_end > now) out.push_back(k);
  return out;
}

std::vector<std::string> KernelLogOracle::foreign_open(Clock::time_point now) const {
  std::vector<std::string> out;
  for (auto& [k, at] : foreign_)
    if (now - at < kForeignOpenMax) out.push_back(k);
  return out;
}

void KernelLogOracle::note_mark(const KmsgMark& m, Clock::time_point now) {
  if (!m.run_tag.empty() && m.run_tag == opts_.run_tag) return;  // ours: the windows say more
  std::string key = (m.run_tag.empty() ? "?" : m.run_tag) + " " + m.id;
  if (m.begin) foreign_[key] = now;
  else foreign_.erase(key);
}

void KernelLogOracle::start_event(std::string excerpt, Clock::time_point now) {
  Building b;
  b.ev.excerpt = std::move(excerpt);
  b.ev.suspects = suspects(now);
  b.ev.foreign_open = foreign_open(now);
  b.read_at = now;
  building_.push_back(std::move(b));
}

void KernelLogOracle::absorb(const KmsgRecord& r, Clock::time_point now) {
  if (r.facility != 0) {  // user space: a mark, or anything else written to /dev/kmsg
    if (auto m = parse_mark(r.text)) note_mark(*m, now);
    return;
  }
  const bool splat = is_kernel_splat(r.text);
  Building* cur = building_.empty() ? nullptr : &building_.back();
  if (cur && cur->lines_after >= kSplatLines) cur = nullptr;
  if (splat && !cur) {
    start_event(r.text, now);
    cur = &building_.back();
  } else if (cur) {
    cur->lines_after++;
    if (splat && cur->ev.excerpt.size() < kExcerptMax) cur->ev.excerpt += " | " + r.text;
    if (is_end_of_splat(r.text)) cur->lines_after = kSplatLines;
  }
  if (!cur) return;
  if (auto t = splat_task(r.text)) {
    if (!cur->ev.task) cur->ev.task = t;
    else if (cur->ev.task->comm.empty() && cur->ev.task->pid == t->pid) cur->ev.task->comm = t->comm;
  }
}

void KernelLogOracle::check_taint() {
  long now_taint = read_taint(opts_.taint_path);
  if (now_taint == taint_) return;
  std::string what = fmt::format("taint changed {} -> {}", taint_, now_taint);
  taint_ = now_taint;
  // A splat sets its taint bit as it prints: the change belongs to it.
  if (!building_.empty()) {
    building_.back().ev.excerpt += " | " + what;
  } else if (!ready_.empty()) {
    ready_.back().excerpt += " | " + what;
  } else {
    start_event(what, Clock::now());
    building_.back().lines_after = kSplatLines;  // nothing more will name a task
  }
}

void KernelLogOracle::trace(KernelEvent& ev) const {
  using O = KernelEvent::Origin;
  ev.origin = O::anonymous;
  if (!ev.task) return;
  const pid_t pid = ev.task->pid;
  const std::string& comm = ev.task->comm;
  if (pid == getpid() || own_.count(pid)) {
    ev.origin = O::own_process;
    return;
  }
  auto by_pid = [&](pid_t p) -> std::optional<uint64_t> {
    for (auto& [k, w] : windows_)
      if (w.pid == p && p > 0) return k;
    return std::nullopt;
  };
  auto hit = [&](uint64_t k) {
    ev.origin = O::case_task;
    ev.culprit = k;
  };
  if (auto k = by_pid(pid)) return hit(*k);
  if (auto cc = parse_case_comm(comm)) {
    if (cc->run_tag != opts_.run_tag) {
      ev.origin = O::foreign_run;
      return;
    }
    for (auto& [k, w] : windows_)
      if (w.seq == cc->seq) return hit(k);
  }
  // io_uring's workers are named for the task that created them.
  for (std::string_view pre : {"iou-wrk-", "iou-sqp-"})
    if (comm.rfind(pre, 0) == 0)
      if (auto k = by_pid(static_cast<pid_t>(atoi(comm.c_str() + pre.size())))) return hit(*k);
  if (auto st = task_stat(pid)) {
    if (auto k = by_pid(st->pgrp)) return hit(*k);  // a helper the case forked
    if (!(st->flags & kPfKthread) && !is_kernel_thread_name(comm)) ev.origin = O::foreign_task;
  }
  // A kernel thread, the idle task (pid 0), or a task already gone: anonymous.
}

void KernelLogOracle::finish_settled(Clock::time_point now, bool all) {
  for (auto it = building_.begin(); it != building_.end();) {
    bool named = it->ev.task && !it->ev.task->comm.empty();
    if (all || named || it->lines_after >= kSplatLines || now - it->read_at >= opts_.settle) {
      trace(it->ev);
      ready_.push_back(std::move(it->ev));
      it = building_.erase(it);
    } else {
      ++it;
    }
  }
}

void KernelLogOracle::drain() {
  if (fd_ < 0) return;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) {  // the ring overwrote records before we read them
      lost_++;
      continue;
    }
    if (n <= 0) break;
    partial_.append(buf, static_cast<size_t>(n));
    size_t start = 0, nl;
    auto now = Clock::now();
    while ((nl = partial_.find('\n', start)) != std::string::npos) {
      if (auto r = parse_kmsg_line(std::string_view(partial_).substr(start, nl - start))) absorb(*r, now);
      start = nl + 1;
    }
    partial_.erase(0, start);
  }
  finish_settled(Clock::now(), false);
}

bool KernelLogOracle::pending(uint64_t key) const {
  auto now = Clock::now();
  if (auto it = windows_.find(key); it != windows_.end() && (it->second.open || it->second.grace_end > now))
    return true;
  for (auto& b : building_)
    if (std::find(b.ev.suspects.begin(), b.ev.suspects.end(), key) != b.ev.suspects.end()) return true;
  return false;
}

std::optional<KernelLogOracle::Clock::time_point> KernelLogOracle::next_deadline() const {
  std::optional<Clock::time_point> t;
  auto now = Clock::now();
  auto take = [&](Clock::time_point x) {
    if (!t || x < *t) t = x;
  };
  for (auto& [k, w] : windows_)
    if (!w.open && w.grace_end > now) take(w.grace_end);
  for (auto& b : building_) take(b.read_at + opts_.settle);
  return t;
}

std::vector<KernelEvent> KernelLogOracle::take_events() {
  finish_settled(Clock::now(), false);
  std::vector<KernelEvent> out;
  out.swap(ready_);
  return out;
}

}  // namespace aioh
