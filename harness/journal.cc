// The undo journal (see journal.h). One file per run, named by the run's pid
// and start time so a recycled pid is not mistaken for a live run. Lines:
//   A <id> <pid> <kind> <arg>...   an action to undo (args tab-separated)
//   D <id>                         it was undone by its owner
#include "journal.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "faults/block.h"

namespace aioh {
namespace {

namespace fs = std::filesystem;

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

bool kind_from(const std::string& s, UndoKind* k) {
  for (UndoKind c : {UndoKind::sysctl, UndoKind::umount, UndoKind::loop_detach, UndoKind::remove_tree,
                     UndoKind::dm_remove, UndoKind::nullb_remove, UndoKind::module_unload})
    if (s == kind_name(c)) {
      *k = c;
      return true;
    }
  return false;
}

// The process start time (field 22 of /proc/PID/stat), to tell a live run
// from a recycled pid; "" for a process that is gone or a zombie (a harness
// killed with SIGKILL and not yet reaped has already stopped running).
std::string start_time(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string s;
  std::getline(f, s);
  auto close = s.rfind(')');
  if (close == std::string::npos || close + 2 >= s.size() || s[close + 2] == 'Z') return "";
  std::istringstream is(s.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && (is >> field); i++) {}
  return field;
}

struct Entry {
  long id;
  pid_t pid;
  UndoKind kind;
  std::vector<std::string> args;
};

// Open (not done) entries of a journal file, in recording order.
std::vector<Entry> open_entries(const std::string& path) {
  std::ifstream f(path);
  std::vector<Entry> all;
  std::set<long> done;
  std::string line;
  while (std::getline(f, line)) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream is(line);
    while (std::getline(is, part, '\t')) parts.push_back(part);
    if (parts.size() >= 2 && parts[0] == "D") {
      done.insert(std::stol(parts[1]));
    } else if (parts.size() >= 4 && parts[0] == "A") {
      Entry e{std::stol(parts[1]), static_cast<pid_t>(std::stol(parts[2])), UndoKind::sysctl, {}};
      if (!kind_from(parts[3], &e.kind)) continue;
      e.args.assign(parts.begin() + 4, parts.end());
      all.push_back(e);
    }
  }
  std::erase_if(all, [&](const Entry& e) { return done.count(e.id); });
  return all;
}

std::string describe(const Entry& e, const std::string& err) {
  std::string args;
  for (auto& a : e.args) args += " " + a;
  return fmt::format("{}{}: {}", kind_name(e.kind), args, err.empty() ? "ok" : err);
}

}  // namespace

std::string Journal::state_dir() {
  if (const char* d = getenv("AIOH_STATE_DIR")) return d;
  if (geteuid() == 0) return "/var/tmp/aioharness";
  const char* home = getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.cache/aioharness/state";
}

Journal& Journal::run_journal() {
  static Journal* j = [] {
    std::error_code ec;
    fs::create_directories(state_dir(), ec);
    pid_t me = getpid();
    return new Journal(fmt::format("{}/run-{}-{}.journal", state_dir(), me, start_time(me)));
  }();
  return *j;
}

void Journal::append(const std::string& line) {
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  std::string l = line + "\n";
  (void)!::write(fd, l.data(), l.size());
  fsync(fd);
  ::close(fd);
}

long Journal::record(UndoKind kind, const std::vector<std::string>& args) {
  // Unique across the run's processes: pid in the high bits, a counter below.
  static std::atomic<long> counter{0};
  long id = (static_cast<long>(getpid()) << 20) | (++counter & 0xfffff);
  std::string line = fmt::format("A\t{}\t{}\t{}", id, getpid(), kind_name(kind));
  for (auto& a : args) line += "\t" + a;
  append(line);
  return id;
}

void Journal::done(long id) { append(fmt::format("D\t{}", id)); }

std::string Journal::undo(UndoKind kind, const std::vector<std::string>& args) {
  switch (kind) {
    case UndoKind::sysctl: {
      if (args.size() != 2) return "malformed entry";
      std::ofstream f(args[0]);
      f << args[1];
      f.close();
      return f ? "" : fmt::format("cannot write {}", args[0]);
    }
    case UndoKind::umount:
      if (args.size() != 1) return "malformed entry";
      if (umount2(args[0].c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
        return fmt::format("umount {}: {}", args[0], strerror(errno));
      return "";
    case UndoKind::loop_detach: {
      if (args.size() != 2) return "malformed entry";
      // Detach only the device still backed by our file: the number may have
      // been reused by someone else since.
      std::string dev = fs::path(args[0]).filename();
      std::ifstream bf("/sys/block/" + dev + "/loop/backing_file");
      std::string backing;
      std::getline(bf, backing);
      if (backing.rfind(args[1], 0) != 0) return "";  // already gone or not ours
      int fd = ::open(args[0].c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return fmt::format("open {}: {}", args[0], strerror(errno));
      int r = ioctl(fd, LOOP_CLR_FD, 0);
      int err = errno;
      ::close(fd);
      return r == 0 || err == ENXIO ? "" : fmt::format("LOOP_CLR_FD {}: {}", args[0], strerror(err));
    }
    case UndoKind::remove_tree: {
      if (args.size() != 1) return "malformed entry";
      std::error_code ec;
      fs::remove_all(args[0], ec);
      return ec ? fmt::format("remove {}: {}", args[0], ec.message()) : "";
    }
    case UndoKind::dm_remove:
      return args.size() == 1 ? faults::dm_remove(args[0]) : "malformed entry";
    case UndoKind::nullb_remove:
      return args.size() == 1 ? faults::undo_nullb(args[0]) : "malformed entry";
    case UndoKind::module_unload:
      return args.size() == 1 ? faults::undo_module(args[0]) : "malformed entry";
  }
  return "unknown kind";
}

std::vector<std::string> Journal::undo_pid(pid_t pid) {
  std::vector<std::string> out;
  auto entries = open_entries(path_);
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->pid != pid) continue;
    std::string err = undo(it->kind, it->args);
    out.push_back(describe(*it, err));
    if (err.empty()) done(it->id);
  }
  return out;
}

std::vector<std::string> Journal::finish() {
  std::vector<std::string> out;
  auto entries = open_entries(path_);
  bool all_ok = true;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    std::string err = undo(it->kind, it->args);
    all_ok &= err.empty();
    out.push_back(describe(*it, err));
    if (err.empty()) done(it->id);
  }
  std::error_code ec;
  if (all_ok) fs::remove(path_, ec);
  return out;
}

std::vector<std::string> Journal::recover(bool include_live) {
  std::vector<std::string> out;
  std::error_code ec;
  std::string self = run_journal().path();
  for (auto& e : fs::directory_iterator(state_dir(), ec)) {
    std::string name = e.path().filename();
    if (e.path().extension() != ".journal" || name.rfind("run-", 0) != 0) continue;
    if (e.path() == self && !include_live) continue;
    // run-<pid>-<start>.journal: skip runs still alive.
    std::string stem = e.path().stem();
    auto dash = stem.find('-', 4);
    pid_t pid = static_cast<pid_t>(std::stol(stem.substr(4, dash - 4)));
    std::string start = dash == std::string::npos ? "" : stem.substr(dash + 1);
    if (!include_live && kill(pid, 0) == 0 && !start.empty() && start_time(pid) == start) continue;
    auto entries = open_entries(e.path());
    bool all_ok = true;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      std::string err = undo(it->kind, it->args);
      all_ok &= err.empty();
      out.push_back(describe(*it, err));
    }
    if (all_ok && e.path() != self) fs::remove(e.path(), ec);
  }
  return out;
}

}  // namespace aioh
