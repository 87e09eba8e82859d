// The block-device helpers (see block_device.h): device-mapper control
// through its ioctls, a null_blk configfs item's removal, a module's unload.
#include "system/block_device.h"

#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "errno_names.h"

namespace aioh::system {
namespace {

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// dm_ioctl header for `name` with data_size bytes in all.
void dm_header(dm_ioctl* io, const std::string& name, size_t data_size) {
  memset(io, 0, sizeof *io);
  io->version[0] = DM_VERSION_MAJOR;
  io->version[1] = 0;
  io->version[2] = 0;
  io->data_size = static_cast<__u32>(data_size);
  io->data_start = sizeof(dm_ioctl);
  strncpy(io->name, name.c_str(), sizeof io->name - 1);
}

std::string dm_call(unsigned long req, const char* what, void* arg) {
  int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
  if (fd < 0) return fmt::format("open /dev/mapper/control: {}", errno_name(errno));
  int rc = ioctl(fd, req, arg);
  int e = errno;
  close(fd);
  if (rc != 0) {
    errno = e;
    return fmt::format("{}: {}", what, errno_name(e));
  }
  return "";
}

}  // namespace

std::vector<char> dm_table_load_buffer(const std::string& name, const std::vector<DmTarget>& targets) {
  std::vector<char> buf(sizeof(dm_ioctl));
  for (auto& t : targets) {
    size_t at = buf.size();
    size_t len = sizeof(dm_target_spec) + t.params.size() + 1;
    len = (len + 7) & ~size_t{7};
    buf.resize(at + len, 0);
    dm_target_spec spec{};
    spec.sector_start = t.start;
    spec.length = t.length;
    spec.next = static_cast<__u32>(len);
    strncpy(spec.target_type, t.type.c_str(), sizeof spec.target_type - 1);
    memcpy(buf.data() + at, &spec, sizeof spec);
    memcpy(buf.data() + at + sizeof spec, t.params.c_str(), t.params.size() + 1);
  }
  dm_ioctl io;
  dm_header(&io, name, buf.size());
  io.target_count = static_cast<__u32>(targets.size());
  memcpy(buf.data(), &io, sizeof io);
  return buf;
}

std::string dm_create(const std::string& name, uint64_t* dev) {
  dm_ioctl io;
  dm_header(&io, name, sizeof io);
  if (auto e = dm_call(DM_DEV_CREATE, "DM_DEV_CREATE", &io); !e.empty()) return e;
  *dev = io.dev;
  return "";
}

std::string dm_load_and_resume(const std::string& name, const std::vector<DmTarget>& targets) {
  std::vector<char> buf = dm_table_load_buffer(name, targets);
  if (auto e = dm_call(DM_TABLE_LOAD, "DM_TABLE_LOAD", buf.data()); !e.empty()) return e;
  // DM_DEV_SUSPEND without DM_SUSPEND_FLAG resumes: the loaded table goes live.
  dm_ioctl io;
  dm_header(&io, name, sizeof io);
  return dm_call(DM_DEV_SUSPEND, "DM_DEV_SUSPEND (resume)", &io);
}

std::string dm_status(const std::string& name, bool table, std::string* out) {
  std::vector<char> buf(16384, 0);
  dm_ioctl io;
  dm_header(&io, name, buf.size());
  if (table) io.flags |= DM_STATUS_TABLE_FLAG;
  memcpy(buf.data(), &io, sizeof io);
  if (auto e = dm_call(DM_TABLE_STATUS, "DM_TABLE_STATUS", buf.data()); !e.empty()) return e;
  memcpy(&io, buf.data(), sizeof io);
  if (io.flags & DM_BUFFER_FULL_FLAG) return "DM_TABLE_STATUS: buffer full";
  size_t at = io.data_start;
  out->clear();
  for (unsigned i = 0; i < io.target_count && at + sizeof(dm_target_spec) <= buf.size(); i++) {
    dm_target_spec spec;
    memcpy(&spec, buf.data() + at, sizeof spec);
    std::string params(buf.data() + at + sizeof spec, strnlen(buf.data() + at + sizeof spec, buf.size() - at - sizeof spec));
    *out += fmt::format("{}{} {} {} {}", out->empty() ? "" : "; ", spec.sector_start, spec.length,
                        std::string(spec.target_type, strnlen(spec.target_type, sizeof spec.target_type)), params);
    // For status, `next` is the offset from the start of the data area.
    at = io.data_start + spec.next;
    if (spec.next == 0) break;
  }
  return "";
}

std::string dm_remove(const std::string& name) {
  dm_ioctl io;
  dm_header(&io, name, sizeof io);
  std::string e = dm_call(DM_DEV_REMOVE, "DM_DEV_REMOVE", &io);
  if (!e.empty() && (errno == ENXIO || errno == ENOENT)) return "";  // already gone
  if (!e.empty() && !exists("/dev/mapper/control")) return "";      // no dm: nothing of ours
  return e;
}

std::string remove_nullb(const std::string& configfs_dir) {
  if (!exists(configfs_dir)) return "";
  if (int fd = open((configfs_dir + "/power").c_str(), O_WRONLY | O_CLOEXEC); fd >= 0) {
    (void)!write(fd, "0", 1);
    close(fd);
  }
  if (rmdir(configfs_dir.c_str()) != 0 && errno != ENOENT) return fmt::format("rmdir {}: {}", configfs_dir, errno_name(errno));
  return "";
}

std::string unload_module(const std::string& module) {
  if (!exists("/sys/module/" + module)) return "";
  if (syscall(SYS_delete_module, module.c_str(), O_NONBLOCK) != 0 && errno != ENOENT)
    return fmt::format("delete_module {}: {}", module, errno_name(errno));
  return "";
}

}  // namespace aioh::system
