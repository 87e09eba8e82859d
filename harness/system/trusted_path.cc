// Trusted path walks, removal and unmounting relative to opened fds, and
// process identity (see trusted_path.h).
#include "system/trusted_path.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "errno_names.h"

namespace aioh::system {
namespace {

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream is(path);
  while (std::getline(is, part, '/'))
    if (!part.empty()) out.push_back(part);
  return out;
}

std::string prefix_of(const std::vector<std::string>& parts, size_t n) {
  std::string p;
  for (size_t i = 0; i < n; i++) p += "/" + parts[i];
  return p.empty() ? "/" : p;
}

// An ancestor may belong to root or to us, and be writable by others only
// when sticky (then nobody else can rename or remove what we made in it).
std::string check_ancestor(const struct stat& st, const std::string& shown) {
  if (!S_ISDIR(st.st_mode)) return shown + ": not a directory";
  if (st.st_uid != 0 && st.st_uid != geteuid()) return fmt::format("{}: owned by uid {}, not root or {}", shown, st.st_uid, geteuid());
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
    return fmt::format("{}: writable by group or others (mode {:04o}) without the sticky bit", shown, st.st_mode & 07777);
  return "";
}

std::string check_private(const struct stat& st, const std::string& shown) {
  if (!S_ISDIR(st.st_mode)) return shown + ": not a directory";
  if (st.st_uid != geteuid()) return fmt::format("{}: owned by uid {}, not {}", shown, st.st_uid, geteuid());
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return fmt::format("{}: writable by group or others (mode {:04o})", shown, st.st_mode & 07777);
  return "";
}

// Why openat(O_NOFOLLOW | O_DIRECTORY) of `name` failed, in words.
std::string open_failure(int dirfd, const std::string& name, const std::string& shown, int err) {
  struct stat st {};
  if ((err == ENOTDIR || err == ELOOP) && fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
    return S_ISLNK(st.st_mode) ? shown + ": a symlink (not followed)" : shown + ": not a directory";
  return fmt::format("{}: {}", shown, errno_name(err));
}

// One component down from `fd` (which it closes), never through a symlink;
// with `create` a missing directory is made with mode 0700. The new fd, or -1
// with *why, and *gone when the component is missing.
int step(int fd, const std::vector<std::string>& parts, size_t i, bool create, std::string* why, bool* gone) {
  std::string shown = prefix_of(parts, i + 1);
  int next = openat(fd, parts[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (next < 0 && errno == ENOENT && create) {
    if (mkdirat(fd, parts[i].c_str(), 0700) != 0 && errno != EEXIST) {
      *why = fmt::format("cannot create {}: {}", shown, errno_name(errno));
      close(fd);
      return -1;
    }
    next = openat(fd, parts[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  int err = errno;
  if (next < 0) {
    *gone = err == ENOENT;
    *why = open_failure(fd, parts[i], shown, err);
  }
  close(fd);
  return next;
}

// Walks `parts` from "/" (the ancestor rule on each when `strict`, else only
// no symlink; the private rule on the last when `last_private`). -1 with
// *why, and *gone when a component is missing (and not created).
int walk(const std::vector<std::string>& parts, bool create, bool last_private, std::string* why, bool* gone,
         bool strict = true) {
  *gone = false;
  int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *why = "/: " + errno_name(errno);
    return -1;
  }
  struct stat st {};
  fstat(fd, &st);
  bool root_last = parts.empty() && last_private;
  if (std::string e = root_last ? check_private(st, "/") : strict ? check_ancestor(st, "/") : ""; !e.empty()) {
    *why = e;
    close(fd);
    return -1;
  }
  for (size_t i = 0; i < parts.size(); i++) {
    std::string shown = prefix_of(parts, i + 1);
    if ((fd = step(fd, parts, i, create, why, gone)) < 0) return -1;
    if (fstat(fd, &st) != 0) {
      *why = fmt::format("{}: fstat: {}", shown, errno_name(errno));
      close(fd);
      return -1;
    }
    bool last = i + 1 == parts.size();
    std::string e = last && last_private ? check_private(st, shown) : strict ? check_ancestor(st, shown) : "";
    if (!e.empty()) {
      *why = e;
      close(fd);
      return -1;
    }
  }
  return fd;
}

// Removes `name` in `dirfd` (a file, a symlink, or a directory tree on
// filesystem `dev`).
std::string remove_entry(int dirfd, const std::string& name, dev_t dev, const std::string& shown, int depth) {
  if (depth > 64) return shown + ": nested too deep";
  int fd = openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return "";
    if (errno != ENOTDIR && errno != ELOOP) return fmt::format("{}: {}", shown, errno_name(errno));
    if (unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) return fmt::format("unlink {}: {}", shown, errno_name(errno));
    return "";
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_dev != dev) {
    close(fd);
    return shown + ": a mount point still in place (not descended into)";
  }
  DIR* d = fdopendir(fd);
  if (!d) {
    close(fd);
    return fmt::format("{}: {}", shown, errno_name(errno));
  }
  std::string first_error;
  std::vector<std::string> names;
  while (dirent* e = readdir(d))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  for (auto& n : names)
    if (std::string err = remove_entry(::dirfd(d), n, dev, shown + "/" + n, depth + 1); !err.empty() && first_error.empty())
      first_error = err;
  closedir(d);
  if (!first_error.empty()) return first_error;
  if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return fmt::format("rmdir {}: {}", shown, errno_name(errno));
  return "";
}

// Steps from `fd` through parts[from, to) without following a symlink,
// closing what it leaves. The new fd, or -1 with *why ("" when a component
// is missing: the path is gone).
int descend(int fd, const std::vector<std::string>& parts, size_t from, size_t to, std::string* why) {
  bool gone = false;
  for (size_t i = from; i < to && fd >= 0; i++) fd = step(fd, parts, i, false, why, &gone);
  if (gone) why->clear();
  return fd;
}

}  // namespace

bool is_clean_absolute(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  if (path == "/") return true;
  if (path.back() == '/') return false;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return path.find('\0') == std::string::npos;
}

bool is_at_or_below(const std::string& path, const std::string& dir) {
  if (!is_clean_absolute(path) || !is_clean_absolute(dir)) return false;
  if (path == dir) return true;
  if (dir == "/") return true;
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

int open_private_dir(const std::string& path, bool create, std::string* why) {
  if (!is_clean_absolute(path)) {
    *why = path + ": not a clean absolute path";
    return -1;
  }
  bool gone = false;
  return walk(components(path), create, true, why, &gone);
}

std::string check_private_file(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return "fstat: " + errno_name(errno);
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  if (st.st_uid != geteuid()) return fmt::format("owned by uid {}, not {}", st.st_uid, geteuid());
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return fmt::format("writable by group or others (mode {:04o})", st.st_mode & 07777);
  if (st.st_nlink != 1) return fmt::format("{} hard links", st.st_nlink);
  return "";
}

std::string remove_tree_below(const std::string& root, const std::string& path) {
  if (!is_clean_absolute(root) || root == "/" || !is_at_or_below(path, root))
    return fmt::format("{}: not at or below the scratch root {}", path, root);
  auto parts = components(path);
  auto root_parts = components(root);
  std::string why;
  bool gone = false;
  // The parent of what goes: the root's own parent when the root goes.
  int pfd;
  dev_t dev;
  if (path == root) {
    pfd = walk({root_parts.begin(), root_parts.end() - 1}, false, false, &why, &gone, false);
    if (pfd < 0) return gone ? "" : why;
    int rfd = openat(pfd, root_parts.back().c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rfd < 0) {
      int err = errno;
      why = err == ENOENT ? "" : open_failure(pfd, root_parts.back(), root, err);
      close(pfd);
      return why;
    }
    struct stat st {};
    fstat(rfd, &st);
    close(rfd);
    if (std::string e = check_private(st, root); !e.empty()) {
      close(pfd);
      return e;
    }
    dev = st.st_dev;
  } else {
    pfd = walk(root_parts, false, true, &why, &gone, false);
    if (pfd < 0) return gone ? "" : why;
    struct stat st {};
    fstat(pfd, &st);
    dev = st.st_dev;
    if ((pfd = descend(pfd, parts, root_parts.size(), parts.size() - 1, &why)) < 0) return why;
  }
  std::string err = remove_entry(pfd, parts.back(), dev, path, 0);
  close(pfd);
  return err;
}

std::string umount_below(const std::string& root, const std::string& path) {
  if (!is_clean_absolute(root) || root == "/" || path == root || !is_at_or_below(path, root))
    return fmt::format("{}: not below the scratch root {}", path, root);
  auto parts = components(path);
  auto root_parts = components(root);
  std::string why;
  bool gone = false;
  int fd = walk(root_parts, false, true, &why, &gone, false);
  if (fd < 0) return gone ? "" : why;
  if ((fd = descend(fd, parts, root_parts.size(), parts.size(), &why)) < 0) return why;
  // The fd is the mounted filesystem's root (the open crossed onto it);
  // unmounting its /proc/self/fd link acts on exactly that mount.
  std::string link = fmt::format("/proc/self/fd/{}", fd);
  int rc = umount2(link.c_str(), MNT_DETACH);
  int err = errno;
  close(fd);
  if (rc != 0 && err != EINVAL && err != ENOENT) return fmt::format("umount {}: {}", path, errno_name(err));
  return "";
}

std::string process_start_time(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string s;
  std::getline(f, s);
  auto close_paren = s.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= s.size() || s[close_paren + 2] == 'Z') return "";
  std::istringstream is(s.substr(close_paren + 2));
  std::string field;
  for (int i = 3; i <= 22 && (is >> field); i++) {}
  return field;
}

bool process_alive(pid_t pid, const std::string& start) {
  return pid > 0 && !start.empty() && process_start_time(pid) == start;
}

bool parse_long(const std::string& s, long* out, bool allow_negative) {
  if (s.empty() || s.size() > 20) return false;
  size_t i = 0;
  if (s[0] == '-') {
    if (!allow_negative || s.size() == 1) return false;
    i = 1;
  }
  for (; i < s.size(); i++)
    if (s[i] < '0' || s[i] > '9') return false;
  errno = 0;
  char* end = nullptr;
  long v = strtol(s.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0') return false;
  *out = v;
  return true;
}

}  // namespace aioh::system
