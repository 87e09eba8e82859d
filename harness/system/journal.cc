// The undo journal (see journal.h). One file per run in the state directory,
// named by the run's pid and start time so a recycled pid is not mistaken for
// a live run. Lines (tab-separated, each ending in a newline):
//   H aioharness-journal 2 <pid> <start>   written when the file is created
//   R <dir>                                a scratch root of the run
//   P <pid> <start>                        a process of the run that records steps
//   A <id> <pid> <kind> <arg>...           an action to undo
//   D <id>                                 it was undone
// A line that does not parse (a torn write, an empty file's nothing, a
// non-numeric id) is reported and skipped; a step outside what the harness
// can create is refused and reported; the rest of the journal still runs.
#include "system/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "errno_names.h"
#include "system/block_device.h"
#include "system/settings.h"
#include "system/tab_fields.h"
#include "system/trusted_path.h"

#ifndef CONFIGFS_MAGIC
#define CONFIGFS_MAGIC 0x62656570
#endif

namespace aioh {
namespace {

using system::is_at_or_below;
using system::is_clean_absolute;
using system::parse_long;

constexpr const char* kMagic = "aioharness-journal";
constexpr const char* kVersion = "2";
constexpr const char* kConfigfs = "/sys/kernel/config";
// The modules the block fault layer loads (faults/block.cc load_module()).
constexpr const char* kOwnModules[] = {"configfs", "null_blk", "scsi_debug", "sd_mod",
                                       "loop",     "dm_mod",   "dm_flakey",  "dm_delay"};

constexpr UndoKind kKinds[] = {UndoKind::sysctl,    UndoKind::umount,       UndoKind::loop_detach,  UndoKind::remove_tree,
                               UndoKind::dm_remove, UndoKind::nullb_remove, UndoKind::module_unload};

const char* kind_name(UndoKind k) {
  switch (k) {
    case UndoKind::sysctl: return "sysctl";
    case UndoKind::umount: return "umount";
    case UndoKind::loop_detach: return "loop_detach";
    case UndoKind::remove_tree: return "remove_tree";
    case UndoKind::dm_remove: return "dm_remove";
    case UndoKind::nullb_remove: return "nullb_remove";
    case UndoKind::module_unload: return "module_unload";
  }
  return "?";
}

size_t arg_count(UndoKind k) { return k == UndoKind::sysctl || k == UndoKind::loop_detach ? 2 : 1; }

bool kind_from(const std::string& s, UndoKind* k) {
  for (UndoKind c : kKinds)
    if (s == kind_name(c)) {
      *k = c;
      return true;
    }
  return false;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool has_prefix(const std::string& s, const std::string& p) { return s.size() >= p.size() && s.compare(0, p.size(), p) == 0; }

// `s` is prefix + digits (+ optional suffix).
bool prefix_digits(const std::string& s, const std::string& prefix, const std::string& suffix = "") {
  if (!has_prefix(s, prefix) || s.size() < prefix.size() + suffix.size()) return false;
  if (s.compare(s.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  return all_digits(s.substr(prefix.size(), s.size() - prefix.size() - suffix.size()));
}

// What a root may be: a clean absolute directory of the harness's own naming
// (aioharness-XXXXXX from mkdtemp, aioharness-<pid>-<hex> in a --target
// directory), never "/" or a top-level directory.
bool root_ok(const std::string& dir) {
  if (!is_clean_absolute(dir) || std::count(dir.begin(), dir.end(), '/') < 2) return false;
  return has_prefix(dir.substr(dir.rfind('/') + 1), "aioh");
}

// Printable excerpt of a line for a report.
std::string excerpt(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 80)) out += c == '\t' ? std::string(" ") : c >= 0x20 && c < 0x7f ? std::string(1, c) : fmt::format("\\x{:02x}", c);
  return s.size() > 80 ? out + "..." : out;
}

struct Entry {
  long id;
  pid_t pid;
  UndoKind kind;
  std::vector<std::string> args;
  size_t roots_known;  // roots declared before this line
};

struct Parsed {
  std::vector<Entry> open;  // not done, in recording order
  std::vector<std::string> roots;
  std::vector<std::pair<pid_t, std::string>> procs;
  std::vector<std::string> problems;  // "line N: ..."
};

Parsed parse(const std::string& text) {
  Parsed p;
  std::set<long> done;
  std::vector<Entry> all;
  if (text.empty()) p.problems.push_back("empty (no header, no steps)");
  size_t start = 0;
  int n = 0;
  while (start < text.size()) {
    n++;
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      p.problems.push_back(fmt::format("line {}: torn (no newline at the end), skipped: '{}'", n, excerpt(text.substr(start))));
      break;
    }
    std::string line = text.substr(start, nl - start);
    start = nl + 1;
    auto parts = system::split_tabs(line);
    const std::string& t = parts[0];
    long id = 0, pid = 0;
    UndoKind kind{};
    if (t == "H" && parts.size() == 5 && parts[1] == kMagic && parts[2] == kVersion) continue;
    if (t == "R" && parts.size() == 2 && root_ok(parts[1])) {
      if (std::find(p.roots.begin(), p.roots.end(), parts[1]) == p.roots.end()) p.roots.push_back(parts[1]);
      continue;
    }
    if (t == "P" && parts.size() == 3 && parse_long(parts[1], &pid) && all_digits(parts[2])) {
      p.procs.emplace_back(static_cast<pid_t>(pid), parts[2]);
      continue;
    }
    if (t == "D" && parts.size() == 2 && parse_long(parts[1], &id)) {
      done.insert(id);
      continue;
    }
    if (t == "A" && parts.size() >= 4 && parse_long(parts[1], &id) && parse_long(parts[2], &pid) && kind_from(parts[3], &kind) &&
        parts.size() - 4 == arg_count(kind)) {
      all.push_back({id, static_cast<pid_t>(pid), kind, {parts.begin() + 4, parts.end()}, p.roots.size()});
      continue;
    }
    p.problems.push_back(fmt::format("line {}: {}, skipped: '{}'", n,
                                     t == "H" ? "a header of another format" : t == "R" ? "not a scratch root" : "unreadable",
                                     excerpt(line)));
  }
  for (auto& e : all)
    if (!done.count(e.id)) p.open.push_back(std::move(e));
  return p;
}

// The first declared root that holds `path` ("" if none).
std::string root_for(const std::string& path, const std::vector<std::string>& roots, size_t known, bool strictly) {
  for (size_t i = 0; i < known && i < roots.size(); i++)
    if (is_at_or_below(path, roots[i]) && (!strictly || path != roots[i])) return roots[i];
  return "";
}

// "" when the step names only what the harness itself creates, else why not.
std::string check_step(UndoKind kind, const std::vector<std::string>& a, const std::vector<std::string>& roots, size_t known) {
  if (a.size() != arg_count(kind)) return "malformed entry";
  switch (kind) {
    case UndoKind::sysctl:
      if (std::string e = system::check_sysctl_path(a[0]); !e.empty()) return e;
      return system::check_sysctl_value(a[1]);
    case UndoKind::umount:
      if (a[0] == kConfigfs || !root_for(a[0], roots, known, true).empty()) return "";
      return a[0] + " is not below a scratch root of the run";
    case UndoKind::loop_detach:
      if (!prefix_digits(a[0], "/dev/loop")) return a[0] + " is not a loop device node";
      if (root_for(a[1], roots, known, true).empty()) return "backing file " + a[1] + " is not below a scratch root of the run";
      return "";
    case UndoKind::remove_tree:
      if (root_for(a[0], roots, known, false).empty()) return a[0] + " is not a scratch root of the run or below one";
      return "";
    case UndoKind::dm_remove:
      if (prefix_digits(a[0], "aioh-") || prefix_digits(a[0], "aioh-", "-err")) return "";
      return "device-mapper name " + a[0] + " is not one the harness makes (aioh-<pid>[-err])";
    case UndoKind::nullb_remove:
      if (prefix_digits(a[0], std::string(kConfigfs) + "/nullb/aioh-")) return "";
      return a[0] + " is not a null_blk item the harness makes (" + kConfigfs + "/nullb/aioh-<pid>)";
    case UndoKind::module_unload:
      for (const char* m : kOwnModules)
        if (a[0] == m) return "";
      return "module " + a[0] + " is not one the block fault layer loads";
  }
  return "unknown kind";
}

// Detaches /dev/loopN only while it is still backed by our file: the number
// may have been reused by someone else since.
std::string detach_loop(const std::string& dev, const std::string& backing) {
  int fd = ::open(dev.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ENXIO ? "" : fmt::format("open {}: {}", dev, errno_name(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISBLK(st.st_mode) || major(st.st_rdev) != 7) {  // LOOP_MAJOR
    ::close(fd);
    return dev + " is not a loop block device";
  }
  std::ifstream bf(fmt::format("/sys/dev/block/{}:{}/loop/backing_file", major(st.st_rdev), minor(st.st_rdev)));
  std::string now;
  std::getline(bf, now);
  if (now != backing && now != backing + " (deleted)") {  // already gone, or not ours
    ::close(fd);
    return "";
  }
  int r = ioctl(fd, LOOP_CLR_FD, 0);
  int err = errno;
  ::close(fd);
  return r == 0 || err == ENXIO ? "" : fmt::format("LOOP_CLR_FD {}: {}", dev, errno_name(err));
}

std::string umount_configfs() {
  struct statfs s {};
  if (statfs(kConfigfs, &s) != 0 || s.f_type != CONFIGFS_MAGIC) return "";  // nothing of ours mounted there
  if (umount2(kConfigfs, MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT)
    return fmt::format("umount {}: {}", kConfigfs, errno_name(errno));
  return "";
}

std::string execute(UndoKind kind, const std::vector<std::string>& a, const std::vector<std::string>& roots, size_t known) {
  switch (kind) {
    case UndoKind::sysctl: return system::restore_sysctl_original(a[0]);
    case UndoKind::umount:
      return a[0] == kConfigfs ? umount_configfs() : system::umount_below(root_for(a[0], roots, known, true), a[0]);
    case UndoKind::loop_detach: return detach_loop(a[0], a[1]);
    case UndoKind::remove_tree: return system::remove_tree_below(root_for(a[0], roots, known, false), a[0]);
    case UndoKind::dm_remove: return system::dm_remove(a[0]);
    case UndoKind::nullb_remove: return system::remove_nullb(a[0]);
    case UndoKind::module_unload: return system::unload_module(a[0]);
  }
  return "unknown kind";
}

std::string undo_checked(UndoKind kind, const std::vector<std::string>& a, const std::vector<std::string>& roots, size_t known) {
  if (std::string why = check_step(kind, a, roots, known); !why.empty()) return "refused: " + why;
  return execute(kind, a, roots, known);
}

std::string describe(UndoKind kind, const std::vector<std::string>& args, const std::string& err) {
  std::string s = kind_name(kind);
  for (auto& a : args) s += " " + excerpt(a);
  return s + ": " + (err.empty() ? "ok" : err);
}

std::string read_all(int fd) {
  std::string s;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

void append_at(int dfd, const std::string& name, const std::string& text) {
  int fd = openat(dfd, name.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  if (system::check_private_file(fd).empty()) {
    (void)!write(fd, text.data(), text.size());
    fsync(fd);
  }
  ::close(fd);
}

// Stops a process a killed run left running (its start time must match, and
// the pidfd pins it between that check and the signal), with its group.
bool reap(pid_t pid, const std::string& start) {
  int pfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pfd < 0) return false;
  bool same = system::process_alive(pid, start);
  if (same) {
    if (getpgid(pid) == pid) kill(-pid, SIGKILL);
    syscall(SYS_pidfd_send_signal, pfd, SIGKILL, nullptr, 0);
    pollfd p{pfd, POLLIN, 0};
    poll(&p, 1, 2000);  // readable once it has exited
  }
  ::close(pfd);
  return same;
}

bool run_name(const std::string& name, pid_t* pid, std::string* start) {
  if (!has_prefix(name, "run-") || name.size() < 12 || name.compare(name.size() - 8, 8, ".journal") != 0) return false;
  std::string mid = name.substr(4, name.size() - 12);
  size_t dash = mid.find('-');
  long p = 0;
  if (dash == std::string::npos || !parse_long(mid.substr(0, dash), &p) || !all_digits(mid.substr(dash + 1))) return false;
  *pid = static_cast<pid_t>(p);
  *start = mid.substr(dash + 1);
  return true;
}

}  // namespace

std::string Journal::state_dir() {
  if (const char* d = getenv("AIOH_STATE_DIR")) return d;
  if (geteuid() == 0) return "/run/aioharness";
  if (const char* xdg = getenv("XDG_RUNTIME_DIR"); xdg && xdg[0] == '/') return std::string(xdg) + "/aioharness";
  const char* home = getenv("HOME");
  return std::string(home && home[0] == '/' ? home : "/nonexistent") + "/.cache/aioharness/state";
}

std::string Journal::state_dir_problem() {
  std::string why;
  int fd = system::open_private_dir(state_dir(), true, &why);
  if (fd >= 0) {
    ::close(fd);
    return "";
  }
  return fmt::format("state directory refused: {} (nothing is replayed from it or journalled in it)", why);
}

Journal& Journal::run_journal() {
  static std::once_flag made;
  std::call_once(made, [] {
    pid_t me = getpid();
    run_ = new Journal(state_dir(), me, system::process_start_time(me));
  });
  return *run_;
}

int Journal::held_fd() { return run_ ? run_->dir_fd_ : -1; }

int Journal::dir_fd() {
  if (dir_fd_ < 0 && dir_error_.empty()) {
    dir_fd_ = system::open_private_dir(dir_, true, &dir_error_);
    if (dir_fd_ < 0) fputs(fmt::format("harness: no undo journal: state directory refused: {}\n", dir_error_).c_str(), stderr);
  }
  return dir_fd_;
}

void Journal::append(const std::string& line) {
  int dfd = dir_fd();
  if (dfd < 0) return;
  int fd = openat(dfd, name_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  struct stat st {};
  if (!system::check_private_file(fd).empty() || fstat(fd, &st) != 0) {
    ::close(fd);
    return;
  }
  std::string text;
  if (st.st_size == 0) {
    // A new file (or one finish() removed): header, roots and this process
    // first, so the file stands on its own.
    pid_t me = getpid();
    text = fmt::format("H\t{}\t{}\t{}\t{}\n", kMagic, kVersion, pid_, start_);
    for (auto& r : roots_)
      if (line != "R\t" + r) text += "R\t" + r + "\n";
    if (line.rfind("P\t", 0) != 0) text += fmt::format("P\t{}\t{}\n", me, system::process_start_time(me));
    announced_ = me;
  }
  text += line + "\n";
  (void)!::write(fd, text.data(), text.size());
  fsync(fd);
  ::close(fd);
}

void Journal::declare_root(const std::string& dir) {
  if (std::find(roots_.begin(), roots_.end(), dir) != roots_.end()) return;
  if (!root_ok(dir)) {
    fputs(fmt::format("harness: {} cannot be a scratch root (not a clean path named aioh*)\n", dir).c_str(), stderr);
    return;
  }
  roots_.push_back(dir);
  append("R\t" + dir);
}

long Journal::add_scratch_root(const std::string& dir) {
  declare_root(dir);
  return record(UndoKind::remove_tree, {dir});
}

long Journal::record(UndoKind kind, const std::vector<std::string>& args) {
  // Unique across the run's processes: pid in the high bits, a counter below.
  static std::atomic<long> counter{0};
  pid_t me = getpid();
  long id = (static_cast<long>(me) << 20) | (++counter & 0xfffff);
  std::string line = fmt::format("A\t{}\t{}\t{}", id, me, kind_name(kind));
  for (auto& a : args) {
    if (a.find_first_of("\t\n") != std::string::npos) {
      fputs(fmt::format("harness: not journalled ({} with a tab or newline in '{}')\n", kind_name(kind), excerpt(a)).c_str(), stderr);
      return id;
    }
    line += "\t" + a;
  }
  if (announced_ != me) {
    append(fmt::format("P\t{}\t{}", me, system::process_start_time(me)));
    announced_ = me;
  }
  append(line);
  return id;
}

void Journal::done(long id) { append(fmt::format("D\t{}", id)); }

std::string Journal::undo(UndoKind kind, const std::vector<std::string>& args) {
  Journal& j = run_journal();
  return undo_checked(kind, args, j.roots_, j.roots_.size());
}

std::vector<std::string> Journal::undo_pid(pid_t pid) {
  std::vector<std::string> out;
  int dfd = dir_fd();
  if (dfd < 0) return out;
  int fd = openat(dfd, name_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return out;
  Parsed p = parse(system::check_private_file(fd).empty() ? read_all(fd) : "");
  ::close(fd);
  for (auto it = p.open.rbegin(); it != p.open.rend(); ++it) {
    if (it->pid != pid) continue;
    std::string err = undo_checked(it->kind, it->args, p.roots, it->roots_known);
    out.push_back(describe(it->kind, it->args, err));
    if (err.empty()) done(it->id);
  }
  return out;
}

std::vector<std::string> Journal::finish() {
  std::vector<std::string> out;
  int dfd = dir_fd();
  if (dfd < 0) return out;
  int fd = openat(dfd, name_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return out;  // nothing was ever journalled
  if (std::string why = system::check_private_file(fd); !why.empty()) {
    ::close(fd);
    out.push_back(fmt::format("journal {}: {}; left alone", path_, why));
    return out;
  }
  Parsed p = parse(read_all(fd));
  ::close(fd);
  for (auto& prob : p.problems) out.push_back(fmt::format("journal {} {}", path_, prob));
  bool all_ok = true;
  for (auto it = p.open.rbegin(); it != p.open.rend(); ++it) {
    std::string err = undo_checked(it->kind, it->args, p.roots, it->roots_known);
    all_ok &= err.empty();
    out.push_back(describe(it->kind, it->args, err));
    if (err.empty()) done(it->id);
  }
  if (all_ok) unlinkat(dfd, name_.c_str(), 0);
  return out;
}

std::vector<std::string> Journal::recover(bool include_live, bool* clean) {
  std::vector<std::string> out;
  bool ok = true;
  std::string dir = state_dir(), why;
  int dfd = system::open_private_dir(dir, true, &why);
  if (dfd < 0) {
    out.push_back(fmt::format("state directory refused: {} (no journal replayed)", why));
    ok = false;
  } else {
    Journal& self = run_journal();
    std::vector<std::string> names;
    if (DIR* d = fdopendir(openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC))) {
      while (dirent* e = readdir(d)) names.push_back(e->d_name);
      closedir(d);
    }
    std::sort(names.begin(), names.end());
    for (auto& name : names) {
      if (!has_prefix(name, "run-") || name.size() < 8 || name.compare(name.size() - 8, 8, ".journal") != 0) continue;
      std::string shown = dir + "/" + name;
      pid_t pid = 0;
      std::string start;
      if (!run_name(name, &pid, &start)) {
        out.push_back(fmt::format("journal {}: not a name this harness writes; left alone", shown));
        ok = false;
        continue;
      }
      bool mine = self.dir_ == dir && self.name_ == name;
      if (mine && !include_live) continue;
      bool alive = system::process_alive(pid, start);
      if (alive && !include_live) continue;  // a live run undoes its own
      int fd = openat(dfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) {
        out.push_back(fmt::format("journal {}: {}; not replayed", shown, errno_name(errno)));
        ok = false;
        continue;
      }
      if (std::string bad = system::check_private_file(fd); !bad.empty()) {
        out.push_back(fmt::format("refused journal {}: {}; not replayed", shown, bad));
        ok = false;
        ::close(fd);
        continue;
      }
      if (flock(fd, LOCK_EX | LOCK_NB) != 0) {  // another run is recovering it now
        ::close(fd);
        continue;
      }
      Parsed p = parse(read_all(fd));
      for (auto& prob : p.problems) out.push_back(fmt::format("journal {} {}", shown, prob));
      ok &= p.problems.empty();
      // A process of the dead run still running (it may hold what is about
      // to be undone) goes first.
      if (!alive)
        for (auto& [ppid, pstart] : p.procs)
          if (ppid != getpid() && reap(ppid, pstart)) out.push_back(fmt::format("stopped pid {}, left running by a killed run", ppid));
      bool all_ok = true;
      std::string done_lines;
      for (auto it = p.open.rbegin(); it != p.open.rend(); ++it) {
        std::string err = undo_checked(it->kind, it->args, p.roots, it->roots_known);
        all_ok &= err.empty();
        out.push_back(describe(it->kind, it->args, err));
        if (err.empty()) done_lines += fmt::format("D\t{}\n", it->id);
      }
      ok &= all_ok;
      if (mine) {
        if (!done_lines.empty()) append_at(dfd, name, done_lines);
      } else if (all_ok) {
        unlinkat(dfd, name.c_str(), 0);
      } else if (!done_lines.empty()) {
        append_at(dfd, name, done_lines);
      }
      ::close(fd);
    }
    ::close(dfd);
  }
  for (auto& l : system::recover_originals(&ok)) out.push_back(l);
  if (clean) *clean = ok;
  return out;
}

}  // namespace aioh
