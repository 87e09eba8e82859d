// One owner per global setting. A sysctl, a run-level policy profile or a
// kernel module is machine-wide: two harness runs that change the same one
// at once would each take the other's temporary value for the "old" one and
// leave it behind for good. So every change happens under one machine-wide
// lock (flock on settings.lock in a root-only directory), and the value from
// before ANY run changed a setting is kept in the originals file next to it:
// a run that finds an entry whose owner died takes it over instead of reading
// the leftover value, and every restore writes that original back. A second
// run waits for the lock (bounded, saying once who holds it) or gives up with
// one line. The LTP save/restore and blktests _io_uring_enable/_restore do the
// same for one test; this makes it hold across processes and kills.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace aioh::system {

// Where the lock and the originals live: /run/aioharness for root (one per
// machine, whatever $AIOH_STATE_DIR says), else the user's state directory.
std::string settings_dir();

// Seconds a run waits for the lock before it gives up: $AIOH_LOCK_WAIT when
// it is a number in [0, 3600], else 120.
double settings_lock_wait();
// A case's child waits at most this long (well inside its watchdog, 10 s by
// default), then the case is broken with the refusal line.
constexpr double kCaseLockWait = 5;

// Takes the machine-wide lock for `what` ("sysctl /proc/sys/fs/aio-max-nr"),
// waiting up to settings_lock_wait() seconds (and at most `max_wait` when
// that is not negative). Held by this process (and the
// children it forks) until the matching release or its exit; nested calls
// count. "" on success, else the refusal line. *waited (when given) says how
// long it waited and for whom.
std::string acquire_settings_lock(const std::string& what, std::string* waited = nullptr, double max_wait = -1);
void release_settings_lock();
// The fds of the global-settings lock while this process holds it (else
// none): a case's child forked meanwhile shares the lock and keeps them.
std::vector<int> held_settings_lock_fds();

// Cases that only depend on the global settings being as the machine has
// them (every case creating AIO contexts or io_uring rings meets
// fs.aio-max-nr and kernel.io_uring_disabled) hold them "in use", beside
// every other holder, in this run and in others: flock(LOCK_SH) on
// settings.inuse. A SysctlChange takes settings.inuse exclusively once it
// holds the global-settings lock, before it writes, and keeps it until it
// has restored; a holder first looks at the global-settings lock (shared,
// for an instant), so while a change waits or is in force nobody new holds
// them, and ordinary runs never wait for each other.
class SettingsInUse {
 public:
  SettingsInUse() = default;
  ~SettingsInUse();
  SettingsInUse(const SettingsInUse&) = delete;
  SettingsInUse& operator=(const SettingsInUse&) = delete;

  // Holds the settings in use (or keeps holding them) unless another process
  // holds the global-settings lock: then false, and *holder names it. Never
  // waits. True also where nothing can be changed (no settings directory).
  bool try_hold(std::string* holder = nullptr);
  // try_hold until it holds, a stop signal or `max_wait` seconds (one line
  // on stderr when it waits): "" once held, else the refusal line.
  std::string hold(double max_wait, const std::string& why);
  // Lets go (LOCK_UN, so children forked meanwhile let go too).
  void release();
  bool held() const { return held_; }

 private:
  int gate_ = -1, inuse_ = -1;
  bool held_ = false;
};

// The checks a sysctl path and value pass before root writes them: a clean
// path below /proc/sys with no symlink on the way; a short printable value.
std::string check_sysctl_path(const std::string& path);
std::string check_sysctl_value(const std::string& value);

// A sysctl changed under the lock and restored to the original on restore(),
// on destruction (in the process that changed it), by the journal when that
// process is killed, or by the next run's recovery.
class SysctlChange {
 public:
  // `max_wait`: as for acquire_settings_lock (kCaseLockWait in a case).
  // `wait_for_users` false: a sysctl no case depends on (settings.inuse
  // guards fs.aio-max-nr and io_uring_disabled), changed by a holder itself.
  explicit SysctlChange(double max_wait = -1, bool wait_for_users = true)
      : max_wait_(max_wait), wait_for_users_(wait_for_users) {}
  ~SysctlChange() { restore(); }
  SysctlChange(const SysctlChange&) = delete;
  SysctlChange& operator=(const SysctlChange&) = delete;

  // First call: take the lock, wait until no case of any run holds the
  // settings in use (SettingsInUse), keep the original (the originals
  // file's, if a dead run left one), journal it, then write. Later calls
  // only write. "" or why not (nothing is left changed on failure).
  std::string set(const std::string& path, const std::string& value);
  // Writes the original back, drops it from the originals file, marks the
  // journal entry done and releases the lock. "" or why not.
  std::string restore();

  bool active() const { return owner_ != 0; }
  const std::string& path() const { return path_; }
  const std::string& original() const { return original_; }
  // How the lock was met: "" when free at once, else who held it and how long.
  const std::string& lock_note() const { return note_; }

 private:
  std::string path_, original_, note_;
  long journal_id_ = -1;
  pid_t owner_ = 0;
  double max_wait_;
  bool wait_for_users_;
};

// The journal's sysctl undo: writes the original of `path` back if a change
// of it is still open and its owner is gone (or is this process). "" when
// restored or when nothing is open, else why not.
std::string restore_sysctl_original(const std::string& path);

// Restores every original whose owner is gone; one line per action or problem.
std::vector<std::string> recover_originals(bool* clean);

// Reads a sysctl (first line, tabs as spaces); "" when it cannot.
std::string read_sysctl(const std::string& path);

}  // namespace aioh::system
