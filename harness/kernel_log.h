// The kernel log as an oracle, for one case or many at once. /dev/kmsg is
// read once for the whole run, from its end; every case has a window, from
// just before its child forks until a grace after it is reaped (deferred
// kernel work such as RCU callbacks and io_uring's exit work lands late), and
// every kernel record is read at a moment when a known set of windows is
// open. A splat (BUG/WARNING/Oops/lockdep/RCU/KASAN ...) or a taint change
// becomes an event, and the oracle says where it came from: a task of one of
// this run's cases (each case's child is named for the run and the case, so
// its threads and helpers carry the name), the harness itself, a task that
// is not ours (another harness, anything else on the machine: an outside
// event, never a case's failure), or a kernel thread or nothing nameable,
// when only the windows that were open can say which cases are suspects
// (the scheduler decides, by rerunning them alone when there is more than
// one). Each case is also marked in the log ("aioharness: begin ID run=TAG")
// for people, the VM orchestrator, and other harnesses, whose marks tell
// this one when a case of theirs was open. Silently off where /dev/kmsg
// cannot be read.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace aioh {

// This run's tag (its pid in base 36) and a case child's name, at most 15
// characters: "aioh" TAG ":" SEQ (base 36); parse_case_comm reverses it.
std::string run_tag_for(pid_t pid);
std::string case_comm(const std::string& run_tag, unsigned seq);
struct CaseComm {
  std::string run_tag;
  unsigned seq = 0;
};
std::optional<CaseComm> parse_case_comm(std::string_view comm);

// One /dev/kmsg record: "PRIO,SEQ,USEC,FLAGS[,...];TEXT" (facility 0 is the
// kernel's own; writes from user space carry facility 1 or more).
struct KmsgRecord {
  int facility = 0, level = 0;
  uint64_t seq = 0;
  std::string text;
};
// nullopt for a continuation line (" KEY=value") or anything else.
std::optional<KmsgRecord> parse_kmsg_line(std::string_view line);

// True when a kernel log line is a splat worth failing a case for.
bool is_kernel_splat(const std::string& line);
// The task a splat's lines name: "CPU: 1 UID: 0 PID: 123 Comm: x", "by task
// x/123", "pid: 123, name: x", "INFO: task x:123 blocked", "x/123 is trying".
struct SplatTask {
  pid_t pid = -1;
  std::string comm;
};
std::optional<SplatTask> splat_task(std::string_view line);
// A kernel thread by name (kworker/0:1, ksoftirqd/1, swapper/0, rcu_preempt, ...).
bool is_kernel_thread_name(std::string_view comm);

// "aioharness: begin ID run=TAG" / "end"; a mark without run= is an older
// harness's (tag "").
std::string format_mark(bool begin, const std::string& id, const std::string& run_tag);
struct KmsgMark {
  bool begin = false;
  std::string id, run_tag;
};
std::optional<KmsgMark> parse_mark(std::string_view text);

long read_taint(const std::string& path);

// A kernel log event and where the oracle traced it.
struct KernelEvent {
  enum class Origin {
    case_task,      // a task of this run's case `culprit`
    own_process,    // the harness process itself (target set-up, ...)
    foreign_task,   // a live task that is not this run's: outside
    foreign_run,    // a task named for another aioharness run: outside
    anonymous,      // a kernel thread, or no task named: the suspects decide
  };
  Origin origin = Origin::anonymous;
  std::string excerpt;                  // the splat's lines, " | "-joined, or the taint change
  std::optional<SplatTask> task;
  uint64_t culprit = 0;                 // case_task: the case's key
  std::vector<uint64_t> suspects;       // this run's cases whose windows were open
  std::vector<std::string> foreign_open;  // other runs' cases open at the time ("TAG ID")
  std::string origin_text() const;      // "pid 123 (x)", "a kernel thread (kworker/0:1)", ...
};

class KernelLogOracle {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    bool enabled = true;
    std::string kmsg_path = "/dev/kmsg", taint_path = "/proc/sys/kernel/tainted";
    std::string run_tag;
    std::chrono::milliseconds grace{100};   // a window stays open this long after its case ends
    std::chrono::milliseconds settle{20};   // a splat's lines are awaited this long for its task
  };
  explicit KernelLogOracle(Options o);
  ~KernelLogOracle();
  KernelLogOracle(const KernelLogOracle&) = delete;
  KernelLogOracle& operator=(const KernelLogOracle&) = delete;

  bool enabled() const { return fd_ >= 0; }
  int fd() const { return fd_; }  // readable when records wait: call drain()

  // A case's window: opened just before its child forks (the log read up to
  // then is not its), told the child's pid, closed once the child is reaped
  // (the log read up to then is), its grace following; forget() once its
  // result is out.
  void open_window(uint64_t key, unsigned seq, const std::string& id);
  void set_pid(uint64_t key, pid_t pid);
  void close_window(uint64_t key, const std::string& id);
  void forget(uint64_t key);
  void drain();
  // A process of this harness that is no case (the fork server).
  void add_own_pid(pid_t pid) { own_.insert(pid); }

  // True while the case's grace runs or an event naming it awaits its lines.
  bool pending(uint64_t key) const;
  // When the next grace or settle time ends (to bound the caller's wait).
  std::optional<Clock::time_point> next_deadline() const;
  // Events whose lines are complete, in the order they were read.
  std::vector<KernelEvent> take_events();
  // Records the ring overwrote before they were read (none in a healthy run).
  uint64_t lost() const { return lost_; }

 private:
  struct Window {
    unsigned seq = 0;
    pid_t pid = -1;
    bool open = true;
    Clock::time_point grace_end;
  };
  struct Building {
    KernelEvent ev;
    Clock::time_point read_at;
    int lines_after = 0;
  };
  void absorb(const KmsgRecord& r, Clock::time_point now);
  void note_mark(const KmsgMark& m, Clock::time_point now);
  void check_taint();
  void start_event(std::string excerpt, Clock::time_point now);
  void trace(KernelEvent& ev) const;
  void finish_settled(Clock::time_point now, bool all);
  std::vector<uint64_t> suspects(Clock::time_point now) const;
  std::vector<std::string> foreign_open(Clock::time_point now) const;
  void write_mark(const std::string& text);

  Options opts_;
  int fd_ = -1, mark_fd_ = -1, mark_writes_ = 0;
  bool marks_unlimited_ = false;
  long taint_ = 0;
  uint64_t lost_ = 0;
  std::string partial_;
  std::map<uint64_t, Window> windows_;
  std::set<pid_t> own_;
  std::map<std::string, Clock::time_point> foreign_;  // "TAG ID" -> when its begin mark was read
  std::vector<Building> building_;
  std::vector<KernelEvent> ready_;
};

}  // namespace aioh
