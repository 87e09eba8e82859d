// The undo journal: before a run or a case changes anything outside its
// scratch files (a sysctl, a loop device, a mount, a helper directory), it
// records how to undo it. The owner undoes and marks it done; whatever is left
// — a case's child killed by the watchdog, the harness itself killed with
// SIGKILL — is undone by the runner after the case, by the next run at start,
// or by `harness --cleanup`.
//
// The journal is replayed as root, so it is held to the rules of a root-owned
// state directory: the directory (/run/aioharness for root) and every journal
// file must belong to the running user, be writable by nobody else and be
// reached without a symlink, or they are refused and never replayed. A step is
// carried out only when it names something the harness itself can create:
// sysctls below /proc/sys, loop devices whose backing file lies in one of the
// run's scratch roots (declared in the journal by the run that made them),
// mounts and directories below those roots, device-mapper, null_blk and module
// names of the harness's own pattern. Anything else is refused and reported.
// A torn or unknown line is reported and skipped; the rest still runs.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace aioh {

enum class UndoKind {
  sysctl,        // args: /proc/sys path, value before the change (restored from the originals file)
  umount,        // args: mount point below a scratch root (or /sys/kernel/config)
  loop_detach,   // args: /dev/loopN, backing file below a scratch root (detached only if it still matches)
  remove_tree,   // args: a scratch root or a path below one
  dm_remove,     // args: device-mapper device name aioh-<pid>[-err] (DM_DEV_REMOVE)
  nullb_remove,  // args: null_blk configfs item /sys/kernel/config/nullb/aioh-<pid> (power=0, rmdir)
  module_unload, // args: a module the block layer loads (delete_module; only modules a case loaded)
};

class Journal {
 public:
  // The run's journal in state_dir() (the file is created on first use).
  static Journal& run_journal();
  // $AIOH_STATE_DIR, else /run/aioharness as root, else
  // $XDG_RUNTIME_DIR/aioharness or ~/.cache/aioharness/state.
  static std::string state_dir();
  // "" when state_dir() is (or could be created as) a private directory of
  // the running user; else the one-line refusal.
  static std::string state_dir_problem();

  // Declares `dir` (made by this run, private to it) a scratch root: mounts,
  // loop backing files and directories below it may be undone. Idempotent.
  void declare_root(const std::string& dir);
  // Declares `dir` a root and records its removal; returns the entry's id.
  long add_scratch_root(const std::string& dir);

  // Records an undo action; returns its id. Safe from a case's child (one
  // O_APPEND write per line).
  long record(UndoKind kind, const std::vector<std::string>& args);
  // The owner undid it.
  void done(long id);
  // Undoes, newest first, every open action recorded by `pid`; returns what
  // was undone ("kind args: ok|error|refused: why").
  std::vector<std::string> undo_pid(pid_t pid);
  // Undoes every open action in every journal of a run whose process is gone
  // (all runs' when `include_live` — for tests only), after stopping any
  // process of such a run that still lives, then restores every sysctl whose
  // changer is gone (system/settings.h). Returns one line per action and per
  // problem; *clean (when given) says whether everything was undone and
  // nothing was refused or unreadable.
  static std::vector<std::string> recover(bool include_live = false, bool* clean = nullptr);

  // Carries out one undo action of this process's journal (checked against
  // its scratch roots); "" on success, else the error or the refusal.
  static std::string undo(UndoKind kind, const std::vector<std::string>& args);

  // At the end of a run: undo what is still open, remove the journal file.
  std::vector<std::string> finish();

  const std::string& path() const { return path_; }
  // The state directory's fd the run's journal holds open (-1 when there is
  // no run journal yet or it opened none): a case's child records through it.
  static int held_fd();

 private:
  Journal(std::string dir, pid_t pid, std::string start)
      : dir_(std::move(dir)), name_("run-" + std::to_string(pid) + "-" + start + ".journal"), path_(dir_ + "/" + name_),
        pid_(pid), start_(std::move(start)) {}
  void append(const std::string& line);
  int dir_fd();
  std::string dir_, name_, path_;
  pid_t pid_;          // the run's process (its journal's name)
  std::string start_;
  int dir_fd_ = -1;
  std::string dir_error_;
  std::vector<std::string> roots_;
  pid_t announced_ = 0;  // the process whose P line is in the file
  static inline Journal* run_ = nullptr;
};

}  // namespace aioh
