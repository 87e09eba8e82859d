// Block-device helpers shared by the block fault layer, the journal's undo
// and the targets: device-mapper control through /dev/mapper/control (the
// guest has no dmsetup), removing a null_blk configfs item, unloading a
// module. Each returns "" or an error text — never throws a layer's
// exception — and an undo of something already gone is success.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aioh::system {

// One device-mapper target line, as DM_TABLE_LOAD takes it.
struct DmTarget {
  uint64_t start = 0;    // sectors
  uint64_t length = 0;   // sectors
  std::string type;      // "error", "flakey", "delay"
  std::string params;    // the target's constructor arguments
};
// The DM_TABLE_LOAD argument: struct dm_ioctl, then each dm_target_spec with
// its NUL-terminated parameters, `next` 8-byte aligned (linux/dm-ioctl.h).
std::vector<char> dm_table_load_buffer(const std::string& name, const std::vector<DmTarget>& targets);

// Device-mapper control; remove treats a device that is already gone as success.
std::string dm_create(const std::string& name, uint64_t* dev);
std::string dm_load_and_resume(const std::string& name, const std::vector<DmTarget>& targets);
std::string dm_status(const std::string& name, bool table, std::string* out);
std::string dm_remove(const std::string& name);

// Powers a null_blk configfs item off and removes it.
std::string remove_nullb(const std::string& configfs_dir);
// delete_module(O_NONBLOCK) when the module is loaded.
std::string unload_module(const std::string& module);

}  // namespace aioh::system
