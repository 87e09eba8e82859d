// The global-settings lock, the originals file and sysctl changes made under
// them (see settings.h). Files in settings_dir():
//   settings.lock        flock(LOCK_EX) by the process changing a setting; its
//                        text names the holder (pid, start time, what)
//   settings.originals   O <path> <original> <owner pid> <owner start>, one
//                        line per setting changed now (tab-separated)
//   settings.inuse       flock(LOCK_SH) by every case that depends on the
//                        settings as they are, LOCK_EX by a change (empty)
#include "system/settings.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "errno_names.h"
#include "system/journal.h"
#include "system/signals.h"
#include "system/tab_fields.h"
#include "system/trusted_path.h"

namespace aioh::system {
namespace {

constexpr const char* kLockName = "settings.lock";
constexpr const char* kOriginalsName = "settings.originals";
constexpr const char* kInUseName = "settings.inuse";

int g_lock_fd = -1;
int g_inuse_fd = -1;  // LOCK_EX while this process changes a setting
int g_lock_depth = 0;

struct Original {
  std::string path, value;
  pid_t pid = 0;
  std::string start;
};

std::string read_fd(int fd, size_t cap) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while (s.size() < cap && ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)))
    if (n > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

std::string cmdline_of(pid_t pid) {
  FILE* f = fopen(fmt::format("/proc/{}/cmdline", pid).c_str(), "re");
  if (!f) return "";
  std::string s;
  int c;
  while ((c = fgetc(f)) != EOF && s.size() < 160) s += c == 0 ? ' ' : static_cast<char>(c);
  fclose(f);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// "pid 123 (harness --policy ...): sysctl /proc/sys/fs/aio-max-nr", from the lock file.
std::string holder_of(int fd) {
  std::string text = read_fd(fd, 1024);
  lseek(fd, 0, SEEK_SET);
  auto parts = split_tabs(text.substr(0, text.find('\n')));
  long pid = 0;
  if (parts.size() < 3 || !parse_long(parts[0], &pid)) return "another process (the lock file names no holder)";
  std::string cmd = process_alive(static_cast<pid_t>(pid), parts[1]) ? cmdline_of(static_cast<pid_t>(pid)) : "";
  return fmt::format("pid {}{}: {}", pid, cmd.empty() ? " or a child of it" : " (" + cmd + ")", parts[2]);
}

int settings_dir_fd(bool create, std::string* why) { return open_private_dir(settings_dir(), create, why); }

// Asks `ready` every `step` until it says yes (""), `limit` seconds pass
// ("timeout") or a stop signal comes ("stopped by SIGTERM while waiting for <what>").
std::string poll_until(double limit, std::chrono::milliseconds step, const std::function<bool()>& ready,
                       const std::string& what) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit);
  while (std::chrono::steady_clock::now() < deadline) {
    if (int sig = stop_signal()) return fmt::format("stopped by {} while waiting for {}", signal_name(sig), what);
    std::this_thread::sleep_for(step);
    if (ready()) return "";
  }
  return "timeout";
}

// settings.lock or settings.inuse, created when missing, refused when not private; -1 and *err.
int open_lock_file(const char* name, std::string* err) {
  std::string why;
  int dfd = settings_dir_fd(true, &why);
  if (dfd < 0) {
    *err = "settings directory refused: " + why;
    return -1;
  }
  int fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  int e = errno;
  close(dfd);
  std::string path = settings_dir() + "/" + name;
  if (fd < 0) {
    *err = fmt::format("cannot open {}: {}", path, errno_name(e));
    return -1;
  }
  if (std::string bad = check_private_file(fd); !bad.empty()) {
    close(fd);
    *err = fmt::format("refused {}: {}", path, bad);
    return -1;
  }
  return fd;
}

// "pid 12 (harness ...), pid 34": who holds settings.inuse shared, from /proc/locks.
std::string inuse_holders(int fd) {
  struct stat st {};
  FILE* f = fstat(fd, &st) == 0 ? fopen("/proc/locks", "re") : nullptr;
  if (!f) return "other processes";
  std::string out, inode = ":" + std::to_string(st.st_ino) + " ";
  char line[256];
  int listed = 0;
  while (fgets(line, sizeof line, f)) {
    std::string l = line;
    long pid = 0;
    size_t r = l.find(" READ ");
    if (l.find("->") != std::string::npos || l.find(" FLOCK ") == std::string::npos || l.find(inode) == std::string::npos ||
        r == std::string::npos || sscanf(l.c_str() + r + 6, "%ld", &pid) != 1)
      continue;
    if (listed++ == 4) {
      out += ", ...";
      break;
    }
    std::string cmd = cmdline_of(static_cast<pid_t>(pid));
    out += fmt::format("{}pid {}{}", out.empty() ? "" : ", ", pid, cmd.empty() ? "" : " (" + cmd.substr(0, 60) + ")");
  }
  fclose(f);
  return out.empty() ? "other processes" : out;
}

// With the global-settings lock held: settings.inuse exclusively, once no
// case of any run holds it shared, waiting as acquire_settings_lock does.
std::string drain_inuse(const std::string& what, double max_wait) {
  std::string err;
  int fd = open_lock_file(kInUseName, &err);
  if (fd < 0) return "the settings-in-use lock: " + err;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    double limit = max_wait >= 0 ? std::min(max_wait, settings_lock_wait()) : settings_lock_wait();
    std::string holders = inuse_holders(fd);
    fputs(fmt::format("harness: waiting up to {:g} s for the cases of other runs that use the global settings to end "
                      "({}), held by {}\n", limit, what, holders).c_str(), stderr);
    std::string why = poll_until(limit, std::chrono::milliseconds(20), [&] { return flock(fd, LOCK_EX | LOCK_NB) == 0; },
                                 "the settings-in-use lock");
    if (!why.empty()) {
      close(fd);
      if (why != "timeout") return why;
      return fmt::format("cases that create AIO contexts or io_uring rings hold the global settings in use ({}); "
                         "gave up after {:g} s (not changing {})", holders, limit, what);
    }
  }
  g_inuse_fd = fd;
  return "";
}

bool is_proc(int fd) {
  struct statfs s {};
  return fstatfs(fd, &s) == 0 && s.f_type == PROC_SUPER_MAGIC;
}

bool write_sysctl(const std::string& path, const std::string& value, std::string* err) {
  if (std::string why = check_sysctl_path(path); !why.empty()) {
    *err = why;
    return false;
  }
  int fd = open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || !is_proc(fd)) {
    *err = fmt::format("cannot open {}: {}", path, fd < 0 ? errno_name(errno) : "not on procfs");
    if (fd >= 0) close(fd);
    return false;
  }
  std::string v = value + "\n";
  ssize_t n = write(fd, v.data(), v.size());
  int e = errno;
  close(fd);
  if (n != static_cast<ssize_t>(v.size())) {
    *err = fmt::format("cannot write {} = {}: {}", path, value, n < 0 ? errno_name(e) : "short write");
    return false;
  }
  return true;
}

std::vector<Original> read_originals(int dfd, std::vector<std::string>* problems, bool* usable) {
  *usable = true;
  std::vector<Original> out;
  int fd = openat(dfd, kOriginalsName, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) {
      *usable = false;
      problems->push_back(fmt::format("{}/{}: {}; not used", settings_dir(), kOriginalsName, errno_name(errno)));
    }
    return out;
  }
  if (std::string why = check_private_file(fd); !why.empty()) {
    close(fd);
    *usable = false;
    problems->push_back(fmt::format("refused {}/{}: {}; not used", settings_dir(), kOriginalsName, why));
    return out;
  }
  std::string text = read_fd(fd, 1 << 20);
  close(fd);
  std::istringstream is(text);
  std::string line;
  int n = 0;
  while (std::getline(is, line)) {
    n++;
    auto p = split_tabs(line);
    long pid = 0, start = 0;
    if (p.size() != 5 || p[0] != "O" || !check_sysctl_path(p[1]).empty() || !check_sysctl_value(p[2]).empty() ||
        !parse_long(p[3], &pid) || !parse_long(p[4], &start)) {
      problems->push_back(fmt::format("{}/{} line {}: unreadable, skipped", settings_dir(), kOriginalsName, n));
      continue;
    }
    out.push_back({p[1], p[2], static_cast<pid_t>(pid), p[4]});
  }
  return out;
}

std::string write_originals(int dfd, const std::vector<Original>& all) {
  if (all.empty()) {
    if (unlinkat(dfd, kOriginalsName, 0) != 0 && errno != ENOENT) return "cannot remove the originals file: " + errno_name(errno);
    return "";
  }
  std::string tmp = std::string(kOriginalsName) + ".new";
  unlinkat(dfd, tmp.c_str(), 0);
  int fd = openat(dfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot write the originals file: " + errno_name(errno);
  std::string text;
  for (auto& o : all) text += fmt::format("O\t{}\t{}\t{}\t{}\n", o.path, o.value, o.pid, o.start);
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || renameat(dfd, tmp.c_str(), dfd, kOriginalsName) != 0) {
    unlinkat(dfd, tmp.c_str(), 0);
    return "cannot write the originals file: " + errno_name(errno);
  }
  return "";
}

// Reads the originals under the held lock, applies `fn`, writes them back.
template <typename Fn>
std::string with_originals(Fn fn) {
  std::string why;
  int dfd = settings_dir_fd(true, &why);
  if (dfd < 0) return "settings directory refused: " + why;
  std::vector<std::string> problems;
  bool usable = true;
  auto all = read_originals(dfd, &problems, &usable);
  if (!usable) {
    close(dfd);
    return problems.empty() ? "the originals file is unusable" : problems.front();
  }
  bool changed = fn(all);
  std::string err = changed ? write_originals(dfd, all) : "";
  close(dfd);
  return err;
}

}  // namespace

std::string settings_dir() {
  if (geteuid() == 0) return "/run/aioharness";
  return Journal::state_dir();
}

double settings_lock_wait() {
  if (const char* s = getenv("AIOH_LOCK_WAIT")) {
    char* end = nullptr;
    double v = strtod(s, &end);
    if (end != s && *end == '\0' && std::isfinite(v) && v >= 0 && v <= 3600) return v;
  }
  return 120;
}

std::string acquire_settings_lock(const std::string& what, std::string* waited, double max_wait) {
  if (g_lock_depth > 0) {
    g_lock_depth++;
    return "";
  }
  std::string err;
  int fd = open_lock_file(kLockName, &err);
  if (fd < 0) return "global-settings lock: " + err;
  std::string path = settings_dir() + "/" + kLockName;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      int e = errno;
      close(fd);
      return fmt::format("flock {}: {}", path, errno_name(e));
    }
    std::string holder = holder_of(fd);
    double limit = max_wait >= 0 ? std::min(max_wait, settings_lock_wait()) : settings_lock_wait();
    fputs(fmt::format("harness: waiting up to {:g} s for the global-settings lock {} ({}), held by {}\n", limit, path,
                      what, holder).c_str(), stderr);
    auto t0 = std::chrono::steady_clock::now();
    std::string why = poll_until(limit, std::chrono::milliseconds(50), [&] { return flock(fd, LOCK_EX | LOCK_NB) == 0; },
                                 "the global-settings lock");
    if (!why.empty()) {
      close(fd);
      if (why != "timeout") return why;
      return fmt::format("the global-settings lock {} is held by {}; gave up after {:g} s (not changing {})", path,
                         holder, limit, what);
    }
    if (waited)
      *waited = fmt::format("waited {:.1f} s for the global-settings lock held by {}",
                            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), holder);
  }
  std::string text = fmt::format("{}\t{}\t{}\n", getpid(), process_start_time(getpid()), what);
  if (ftruncate(fd, 0) == 0) (void)!pwrite(fd, text.data(), text.size(), 0);
  g_lock_fd = fd;
  g_lock_depth = 1;
  return "";
}

void release_settings_lock() {
  if (g_lock_depth == 0) return;
  // Closed, never LOCK_UN: a child forked while it was held shares the lock
  // and must keep it until it closes its own copy.
  if (--g_lock_depth == 0) {
    if (g_inuse_fd >= 0) close(g_inuse_fd);  // first: settings.inuse is only ever held exclusively under the lock
    g_inuse_fd = -1;
    close(g_lock_fd);
    g_lock_fd = -1;
  }
}

std::vector<int> held_settings_lock_fds() {
  if (g_lock_depth == 0) return {};
  return {g_lock_fd, g_inuse_fd};
}

std::string check_sysctl_path(const std::string& path) {
  if (!is_clean_absolute(path) || path == "/proc/sys" || !is_at_or_below(path, "/proc/sys"))
    return path + ": not a clean path below /proc/sys";
  for (char c : path)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '.' || c == ':'))
      return path + ": unexpected character in a sysctl path";
  char real[PATH_MAX];
  if (!realpath(path.c_str(), real)) return fmt::format("{}: {}", path, errno_name(errno));
  if (path != real) return fmt::format("{}: resolves to {}", path, real);
  return "";
}

std::string check_sysctl_value(const std::string& value) {
  if (value.empty() || value.size() > 256) return "a sysctl value of 1..256 characters expected";
  for (char c : value)
    if (c < 0x20 || c > 0x7e) return "a sysctl value must be printable ASCII without tabs";
  return "";
}

std::string read_sysctl(const std::string& path) {
  if (!check_sysctl_path(path).empty()) return "";
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return "";
  std::string s = is_proc(fd) ? read_fd(fd, 4096) : "";
  close(fd);
  s = s.substr(0, s.find('\n'));
  std::replace(s.begin(), s.end(), '\t', ' ');
  return check_sysctl_value(s).empty() ? s : "";
}

std::string SysctlChange::set(const std::string& path, const std::string& value) {
  std::string err;
  if (active() && owner_ == getpid()) {
    if (path != path_) return fmt::format("one SysctlChange holds {}, not {}", path_, path);
    return write_sysctl(path, value, &err) ? "" : err;
  }
  if (std::string why = check_sysctl_path(path); !why.empty()) return why;
  if (std::string why = check_sysctl_value(value); !why.empty()) return fmt::format("{} = '{}': {}", path, value, why);
  note_.clear();
  if (std::string why = acquire_settings_lock("sysctl " + path, &note_, max_wait_); !why.empty()) return why;
  if (g_inuse_fd < 0 && wait_for_users_)
    if (std::string why = drain_inuse("sysctl " + path, max_wait_); !why.empty()) {
      release_settings_lock();
      return why;
    }
  std::string original;
  std::string start = process_start_time(getpid());
  err = with_originals([&](std::vector<Original>& all) {
    for (auto& o : all)
      if (o.path == path) {
        // A run that died with its change in force: its original is the real one.
        note_ += fmt::format("{}took over the original {} = {} left by pid {}", note_.empty() ? "" : "; ", path, o.value, o.pid);
        original = o.value;
        o.pid = getpid();
        o.start = start;
        return true;
      }
    original = read_sysctl(path);
    if (original.empty()) return false;
    all.push_back({path, original, getpid(), start});
    return true;
  });
  if (err.empty() && original.empty()) err = "cannot read " + path;
  if (!err.empty()) {
    release_settings_lock();
    return err;
  }
  path_ = path;
  original_ = original;
  owner_ = getpid();
  // Journal first, then change.
  journal_id_ = Journal::run_journal().record(UndoKind::sysctl, {path, original});
  if (!write_sysctl(path, value, &err)) {
    restore();
    return err;
  }
  return "";
}

std::string SysctlChange::restore() {
  if (!active() || owner_ != getpid()) return "";
  std::string value = original_, err;
  std::string why = with_originals([&](std::vector<Original>& all) {
    auto it = std::find_if(all.begin(), all.end(), [&](const Original& o) { return o.path == path_; });
    if (it != all.end()) value = it->value;
    if (!write_sysctl(path_, value, &err)) return false;
    if (it == all.end()) return false;
    all.erase(it);
    return true;
  });
  if (!err.empty() || !why.empty()) {
    // Left to the journal and the next run: the entry stays open.
    release_settings_lock();
    owner_ = 0;
    return err.empty() ? why : err;
  }
  Journal::run_journal().done(journal_id_);
  owner_ = 0;
  release_settings_lock();
  return "";
}

std::string restore_sysctl_original(const std::string& path) {
  if (std::string why = check_sysctl_path(path); !why.empty()) return why;
  if (std::string why = acquire_settings_lock("restore " + path); !why.empty()) return why;
  std::string err;
  std::string why = with_originals([&](std::vector<Original>& all) {
    auto it = std::find_if(all.begin(), all.end(), [&](const Original& o) { return o.path == path; });
    if (it == all.end()) return false;  // restored already
    if (it->pid != getpid() && process_alive(it->pid, it->start)) return false;  // its live owner restores it
    if (!write_sysctl(path, it->value, &err)) return false;
    all.erase(it);
    return true;
  });
  release_settings_lock();
  return err.empty() ? why : err;
}

std::vector<std::string> recover_originals(bool* clean) {
  std::vector<std::string> out;
  std::string why;
  int dfd = settings_dir_fd(false, &why);
  if (dfd < 0) return out;  // nothing was ever changed here
  bool usable = true;
  auto peek = read_originals(dfd, &out, &usable);
  close(dfd);
  if (!out.empty() && clean) *clean = false;
  bool any_dead = std::any_of(peek.begin(), peek.end(), [](const Original& o) { return !process_alive(o.pid, o.start); });
  if (!usable || !any_dead) return out;
  if (std::string e = acquire_settings_lock("recover the originals of dead runs"); !e.empty()) {
    out.push_back(e);
    if (clean) *clean = false;
    return out;
  }
  std::string err = with_originals([&](std::vector<Original>& all) {
    bool changed = false;
    for (auto it = all.begin(); it != all.end();) {
      if (process_alive(it->pid, it->start)) {
        ++it;
        continue;
      }
      std::string werr;
      if (write_sysctl(it->path, it->value, &werr)) {
        out.push_back(fmt::format("sysctl {} restored to {} (changed by pid {}, which is gone)", it->path, it->value, it->pid));
        it = all.erase(it);
        changed = true;
      } else {
        out.push_back(fmt::format("sysctl {}: {}", it->path, werr));
        if (clean) *clean = false;
        ++it;
      }
    }
    return changed;
  });
  release_settings_lock();
  if (!err.empty()) {
    out.push_back(err);
    if (clean) *clean = false;
  }
  return out;
}

SettingsInUse::~SettingsInUse() {
  if (gate_ >= 0) close(gate_);
  if (inuse_ >= 0) close(inuse_);
}

bool SettingsInUse::try_hold(std::string* holder) {
  if (g_lock_depth > 0) return true;  // this process is the one changing them
  std::string err;
  if (gate_ < 0 && (gate_ = open_lock_file(kLockName, &err)) < 0) return true;  // then nobody can change them
  if (flock(gate_, LOCK_SH | LOCK_NB) != 0) {
    if (holder) *holder = holder_of(gate_);
    return false;
  }
  // settings.inuse is held exclusively only under the lock, which is shared now: this cannot wait.
  bool ok = held_;
  if (!ok && (inuse_ >= 0 || (inuse_ = open_lock_file(kInUseName, &err)) >= 0)) ok = flock(inuse_, LOCK_SH | LOCK_NB) == 0;
  flock(gate_, LOCK_UN);
  if (!ok && inuse_ >= 0) {
    if (holder) *holder = "a process changing a setting (settings.inuse is held exclusively)";
    return false;
  }
  held_ = inuse_ >= 0;
  return true;
}

std::string SettingsInUse::hold(double max_wait, const std::string& why) {
  std::string holder;
  if (try_hold(&holder)) return "";
  double limit = std::min(max_wait, settings_lock_wait());
  fputs(fmt::format("harness: waiting up to {:g} s for another run's change of a global setting to end before {}, "
                    "held by {}\n", limit, why, holder).c_str(), stderr);
  std::string err = poll_until(limit, std::chrono::milliseconds(20), [&] { return try_hold(&holder); },
                               "the global-settings lock");
  if (err != "timeout") return err;
  return fmt::format("the global-settings lock is held by {}; gave up after {:g} s (before {})", holder, limit, why);
}

void SettingsInUse::release() {
  if (held_) flock(inuse_, LOCK_UN);
  held_ = false;
}

}  // namespace aioh::system
