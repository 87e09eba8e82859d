// The undo journal: before a run or a case changes anything outside its
// scratch files (a sysctl, a loop device, a mount, a seccomp-free helper
// directory), it records how to undo it. The owner undoes and marks it done;
// whatever is left — a case's child killed by the watchdog, the harness itself
// killed with SIGKILL — is undone by the runner after the case, by the next
// run at start, or by `harness --cleanup`.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace aioh {

enum class UndoKind {
  sysctl,        // args: path, old value
  umount,        // args: mount point
  loop_detach,   // args: /dev/loopN, backing file (detached only if it still matches)
  remove_tree,   // args: path
  dm_remove,     // args: device-mapper device name (DM_DEV_REMOVE)
  nullb_remove,  // args: null_blk configfs item directory (power=0, rmdir)
  module_unload, // args: module name (delete_module; only modules a case loaded)
};

class Journal {
 public:
  // The run's journal in state_dir() (created on first use).
  static Journal& run_journal();
  // $AIOH_STATE_DIR, else /var/tmp/aioharness as root, else ~/.cache/aioharness/state.
  static std::string state_dir();

  // Records an undo action; returns its id. Safe from a case's child (one
  // O_APPEND write per line).
  long record(UndoKind kind, const std::vector<std::string>& args);
  // The owner undid it.
  void done(long id);
  // Undoes, newest first, every open action recorded by `pid`; returns what
  // was undone ("kind args: ok|error").
  std::vector<std::string> undo_pid(pid_t pid);
  // Undoes every open action in every journal of a run whose process is gone
  // (all runs' when `include_live` — for tests only). Returns what was done.
  static std::vector<std::string> recover(bool include_live = false);

  // Carries out one undo action; "" on success, else the error.
  static std::string undo(UndoKind kind, const std::vector<std::string>& args);

  // At the end of a run: undo what is still open, remove the journal file.
  std::vector<std::string> finish();

  const std::string& path() const { return path_; }

 private:
  explicit Journal(std::string path) : path_(std::move(path)) {}
  void append(const std::string& line);
  std::string path_;
};

}  // namespace aioh
