// The --device refusals (see device_guard.h). Devices are compared by
// number (st_rdev), never by name: /dev/disk/by-id links, /dev/mapper names
// and partitions all meet on major:minor.
#include "system/device_guard.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "errno_names.h"

namespace aioh::system {
namespace {

struct BlockDev {
  dev_t dev = 0;
  std::string name;  // kernel name: loop5, vda1, dm-0
  std::string sys;   // /sys/devices/.../block/NAME (resolved)
};

std::string slurp_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

std::optional<BlockDev> from_dev(dev_t dev) {
  char real[PATH_MAX];
  if (!realpath(fmt::format("/sys/dev/block/{}:{}", major(dev), minor(dev)).c_str(), real)) return std::nullopt;
  std::string sys = real;
  return BlockDev{dev, sys.substr(sys.rfind('/') + 1), sys};
}

std::optional<BlockDev> from_sys(const std::string& sys) {
  unsigned maj = 0, min = 0;
  if (sscanf(slurp_line(sys + "/dev").c_str(), "%u:%u", &maj, &min) != 2) return std::nullopt;
  return from_dev(makedev(maj, min));
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out.push_back(e->d_name);
    closedir(d);
  }
  return out;
}

bool is_partition(const BlockDev& b) { return exists(b.sys + "/partition"); }

// The whole disk a partition is on (itself for a whole disk).
BlockDev disk_of(const BlockDev& b) {
  if (!is_partition(b)) return b;
  auto d = from_sys(b.sys.substr(0, b.sys.rfind('/')));
  return d ? *d : b;
}

std::vector<BlockDev> partitions_of(const BlockDev& disk) {
  std::vector<BlockDev> out;
  for (auto& n : list_dir(disk.sys))
    if (exists(disk.sys + "/" + n + "/partition"))
      if (auto p = from_sys(disk.sys + "/" + n)) out.push_back(*p);
  return out;
}

// /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size() && isdigit(s[i + 1]) && isdigit(s[i + 2]) && isdigit(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool source_is(const std::string& source, dev_t dev) {
  struct stat st {};
  return !source.empty() && source[0] == '/' && stat(source.c_str(), &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == dev;
}

struct Mount {
  dev_t number = 0;          // the superblock's device (anonymous for btrfs)
  std::string point, source;  // unescaped
};

std::vector<Mount> mounts() {
  std::vector<Mount> out;
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::vector<std::string> fields;
    std::string w;
    while (is >> w) fields.push_back(w);
    if (fields.size() < 7) continue;
    size_t sep = 6;  // optional fields end at "-"; fstype and source follow
    while (sep < fields.size() && fields[sep] != "-") sep++;
    Mount m;
    unsigned maj = 0, min = 0;
    if (sscanf(fields[2].c_str(), "%u:%u", &maj, &min) == 2) m.number = makedev(maj, min);
    m.point = unescape(fields[4]);
    m.source = sep + 2 < fields.size() ? unescape(fields[sep + 2]) : "";
    out.push_back(std::move(m));
  }
  return out;
}

// Where `dev` is mounted ("" if nowhere): by the mount's device number, or by
// its source (btrfs reports an anonymous device number).
std::string mounted_on(dev_t dev) {
  for (auto& m : mounts())
    if (m.number == dev || source_is(m.source, dev)) return m.point;
  return "";
}

bool active_swap(dev_t dev) {
  std::ifstream f("/proc/swaps");
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    std::string name = unescape(line.substr(0, line.find_first_of(" \t")));
    if (source_is(name, dev)) return true;
  }
  return false;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// What makes one device (the named one or a partition of it) unusable.
std::string in_use(const BlockDev& b, const std::string& what) {
  if (std::string mp = mounted_on(b.dev); !mp.empty()) return fmt::format("{} is mounted on {} (/proc/self/mountinfo)", what, mp);
  if (active_swap(b.dev)) return fmt::format("{} is an active swap device (/proc/swaps)", what);
  if (auto h = list_dir(b.sys + "/holders"); !h.empty())
    return fmt::format("{} is held by {} (a device-mapper, LVM or RAID device is built on it: {}/holders)", what, joined(h), b.sys);
  return "";
}

// The devices the root filesystem lives on: its own, the disks they are
// partitions of, and everything below a stacked one (dm, md), recursively.
std::set<dev_t> root_devices(std::string* root_name) {
  std::set<dev_t> out;
  std::vector<BlockDev> todo;
  struct stat st {};
  if (stat("/", &st) == 0 && major(st.st_dev) != 0)
    if (auto b = from_dev(st.st_dev)) todo.push_back(*b);
  // btrfs and others report an anonymous number: the mount's source names it.
  for (auto& m : mounts()) {
    struct stat s {};
    if (m.point == "/" && stat(m.source.c_str(), &s) == 0 && S_ISBLK(s.st_mode))
      if (auto b = from_dev(s.st_rdev)) todo.push_back(*b);
  }
  if (!todo.empty()) *root_name = todo.front().name;
  while (!todo.empty()) {
    BlockDev b = todo.back();
    todo.pop_back();
    if (!out.insert(b.dev).second) continue;
    BlockDev d = disk_of(b);
    if (d.dev != b.dev) todo.push_back(d);
    for (auto& s : list_dir(b.sys + "/slaves"))
      if (auto sb = from_sys(b.sys + "/slaves/" + s)) todo.push_back(*sb);
  }
  return out;
}

uint32_t u32le(const unsigned char* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }

// LVM2 and md RAID member labels, which mark a device as part of a volume
// group or an array even while it is not active.
std::string member_label(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  uint64_t size = 0;
  ioctl(fd, BLKGETSIZE64, &size);
  std::string found;
  unsigned char head[8192] = {};
  if (pread(fd, head, sizeof head, 0) == static_cast<ssize_t>(sizeof head)) {
    // LVM2: "LABELONE" at the start of one of the first four sectors, the
    // label type "LVM2 001" 24 bytes in.
    for (int s = 0; s < 4 && found.empty(); s++)
      if (memcmp(head + s * 512, "LABELONE", 8) == 0 && memcmp(head + s * 512 + 24, "LVM2 001", 8) == 0)
        found = "an LVM2 physical-volume label (an LVM member)";
    constexpr uint32_t kMdMagic = 0xa92b4efc;
    if (found.empty() && (u32le(head) == kMdMagic || u32le(head + 4096) == kMdMagic))
      found = "an md RAID superblock (v1.1/v1.2: a RAID member)";
  }
  // md v0.90 (64 KiB below the 64 KiB-aligned end) and v1.0 (8 KiB below the end).
  uint64_t sectors = size / 512;
  for (uint64_t off : {sectors >= 256 ? ((sectors & ~uint64_t{127}) - 128) * 512 : 0,
                       sectors >= 32 ? ((sectors - 16) & ~uint64_t{7}) * 512 : 0}) {
    unsigned char m[4];
    if (found.empty() && off && pread(fd, m, 4, static_cast<off_t>(off)) == 4 && u32le(m) == 0xa92b4efc)
      found = "an md RAID superblock (v0.90/v1.0: a RAID member)";
  }
  close(fd);
  return found;
}

}  // namespace

std::string device_refusal(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return fmt::format("{}: {}", path, errno_name(errno));
  if (!S_ISBLK(st.st_mode)) return path + " is not a block device";
  auto self = from_dev(st.st_rdev);
  if (!self) return fmt::format("{}: no /sys/dev/block/{}:{}", path, major(st.st_rdev), minor(st.st_rdev));
  std::string root_name;
  auto root = root_devices(&root_name);
  if (root.count(self->dev))
    return fmt::format("{} ({}) holds the root filesystem (on {}), or is the disk or a device under it", path, self->name,
                       root_name);
  if (std::string why = in_use(*self, fmt::format("{} ({})", path, self->name)); !why.empty()) return why;
  if (!is_partition(*self))
    for (auto& p : partitions_of(*self)) {
      if (root.count(p.dev)) return fmt::format("{} has partition {}, which holds the root filesystem", path, p.name);
      if (std::string why = in_use(p, fmt::format("its partition {}", p.name)); !why.empty()) return path + ": " + why;
    }
  if (auto s = list_dir(self->sys + "/slaves"); !s.empty())
    return fmt::format("{} ({}) is built on {} (a device-mapper, LVM or RAID device)", path, self->name, joined(s));
  if (exists(self->sys + "/dm"))
    return fmt::format("{} is device-mapper device {} ({})", path, self->name, slurp_line(self->sys + "/dm/name"));
  if (exists(self->sys + "/md")) return fmt::format("{} ({}) is an md RAID array", path, self->name);
  if (std::string label = member_label(path); !label.empty()) return fmt::format("{} ({}) carries {}", path, self->name, label);
  return "";
}

std::string claim_device(const std::string& path, int* fd) {
  *fd = -1;
  if (std::string why = device_refusal(path); !why.empty()) return why;
  int f = open(path.c_str(), O_RDWR | O_EXCL | O_CLOEXEC);
  if (f < 0) {
    if (errno == EBUSY)
      return path + " is in use: another opener holds it exclusively (open O_EXCL: EBUSY — a mount, a swap, a "
                    "device-mapper/LVM/RAID member, or a program such as mkfs)";
    return fmt::format("open {} O_EXCL: {}", path, errno_name(errno));
  }
  *fd = f;
  return "";
}

bool is_mount_point(const std::string& path) {
  for (const Mount& m : mounts())
    if (m.point == path) return true;
  return false;
}

}  // namespace aioh::system
