// Paths root may act on. The harness runs as root and replays an undo journal
// that names directories to remove and mounts to detach; a path another user
// could have written (a directory they own, a symlink they planted, a
// world-writable parent without the sticky bit) must never be acted on. These
// helpers walk a path from "/" one component at a time with O_NOFOLLOW, fstat
// each opened directory, and then act relative to the opened fd (openat,
// unlinkat), the way systemd's chase() and the trusted state-directory rules
// do. They also tell a live process from a recycled pid (its start time).
#pragma once

#include <sys/types.h>

#include <string>

namespace aioh::system {

// Lexically clean absolute path: starts with '/', no empty, "." or ".."
// component, no trailing '/' (except "/" itself).
bool is_clean_absolute(const std::string& path);
// path == dir, or path is below dir (both clean).
bool is_at_or_below(const std::string& path, const std::string& dir);

// Opens the directory `path` (O_PATH | O_DIRECTORY), reached from "/" without
// following a symlink at any component. Every ancestor must be owned by root
// or the running user and be writable by nobody else unless it is sticky
// (/tmp); the directory itself must be owned by the running user and not be
// writable by its group or others. With `create`, missing components are made
// with mode 0700 (then checked like the rest). Returns the fd, or -1 with the
// reason in *why ("/x/y: owned by uid 65534, not 0").
int open_private_dir(const std::string& path, bool create, std::string* why);

// "" when the open file `fd` is a regular file owned by the running user, not
// writable by group or others, with one link; else why not.
std::string check_private_file(int fd);

// Removes `path` — `root` itself or a path below it. `root` must be reached
// without a symlink and be private to the running user (its ancestors may
// belong to anyone: everything after it is done relative to the opened fd, so
// a rename or a planted symlink above it cannot redirect the removal). Never
// follows a symlink and never descends into another filesystem (a mount
// still in place is an error, not a tree to empty). "" on success or when the
// path is already gone.
std::string remove_tree_below(const std::string& root, const std::string& path);

// Detaches (MNT_DETACH) the mount on `path`, strictly below `root` (held to
// the rules of remove_tree_below()); the mount point is opened with
// O_NOFOLLOW and unmounted through its fd. "" on success, when nothing is mounted there, or
// when the path is gone.
std::string umount_below(const std::string& root, const std::string& path);

// Field 22 of /proc/PID/stat (start time in clock ticks); "" when the process
// is gone or a zombie.
std::string process_start_time(pid_t pid);
// The process `pid` still runs and is the one that started at `start`.
bool process_alive(pid_t pid, const std::string& start);

// Strict decimal parse of a whole string (no sign unless `allow_negative`, no
// spaces, no overflow).
bool parse_long(const std::string& s, long* out, bool allow_negative = false);

}  // namespace aioh::system
