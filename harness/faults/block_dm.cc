// The block layer's device-mapper mechanism: error, flakey and delay tables
// loaded through DM_DEV_CREATE, DM_TABLE_LOAD and DM_DEV_SUSPEND (a guest
// has no dmsetup), flakey and delay over a loop device the case makes. The
// proof is the disks' own counters: every I/O a linear device over dm-error
// passed on, a write that reached flakey but never the disk below, the time
// requests spent in a delaying device.
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "errno_names.h"
#include "faults/block_mechanism.h"
#include "system/journal.h"
#include "system/loop_device.h"

namespace aioh::faults {

DmTarget dm_table_for(const std::string& target, const std::string& effect, const std::string& under,
                      uint64_t sectors) {
  DmTarget t;
  t.length = sectors;
  if (target == "dm-error") {
    t.type = "error";  // no arguments
  } else if (target == "dm-flakey") {
    // <dev> <offset> <up interval> <down interval> [<#features> <features>]:
    // up 0, down 1 s: always in the down period.
    t.type = "flakey";
    t.params = fmt::format("{} 0 0 1", under);
    if (effect != "down") t.params += " 1 " + effect;
  } else if (target == "dm-delay") {
    // <device> <offset> <delay> [...]: reads and writes delayed by <delay> ms.
    uint64_t ms = 0;
    parse_delay_ms(effect, &ms);
    t.type = "delay";
    t.params = fmt::format("{} 0 {}", under, ms);
  }
  return t;
}

}  // namespace aioh::faults

namespace aioh::faults::block {
namespace {

// The loop device under a flakey or delay table, over a file in the case directory.
void make_loop(BlockCase& b) {
  load_module(b, "loop");
  b.loop_backing = b.case_dir + "/under.img";
  int bfd = open(b.loop_backing.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (bfd < 0 || ftruncate(bfd, kDeviceMiB << 20) != 0) throw BlockFail{Installed::broken, "cannot create the loop backing file"};
  system::LoopDevice loop = system::attach_loop(bfd, b.loop_backing, {});
  close(bfd);
  if (loop.failed == system::LoopDevice::control || loop.failed == system::LoopDevice::get_free)
    throw BlockFail{Installed::skip, "no free loop device for the device under dm"};
  if (!loop.ok()) throw BlockFail{Installed::skip, fmt::format("LOOP_CONFIGURE {}: {}", loop.path, errno_name(loop.err))};
  close(loop.fd);  // detached by teardown (the journal's loop_detach), not by a last close
  b.loop_dev = loop.path;
  b.loop_id = loop.journal_id;
  b.under_disk = fmt::format("loop{}", loop.number);
  prefill(b.loop_dev);
}

// Creates dm device `name` (journalled first) and loads `table`; *dev its number.
void make_dm_device(const std::string& name, long* id, const DmTarget& table, uint64_t* dev) {
  *id = Journal::run_journal().record(UndoKind::dm_remove, {name});
  if (auto e = dm_create(name, dev); !e.empty()) {
    Journal::run_journal().done(*id);
    *id = -1;
    throw BlockFail{Installed::skip, e};
  }
  if (auto e = dm_load_and_resume(name, {table}); !e.empty()) throw BlockFail{Installed::broken, e};
}

std::string devno_text(uint64_t dev) {
  return fmt::format("{}:{}", major(static_cast<dev_t>(dev)), minor(static_cast<dev_t>(dev)));
}

}  // namespace

void make_dm(BlockCase& b) {
  const std::string& target = b.spec.target;
  load_module(b, "dm_mod");
  if (target == "dm-flakey") load_module(b, "dm_flakey");
  if (target == "dm-delay") load_module(b, "dm_delay");
  uint64_t sectors = (kDeviceMiB << 20) / 512;
  uint64_t dev = 0;
  DmTarget table;
  if (target == "dm-error") {
    // dm accounts no bio the error target kills, so the case's device is a
    // linear one over it: its counters show the I/O that went to the error.
    b.dm_err_name = fmt::format("aioh-{}-err", getpid());
    make_dm_device(b.dm_err_name, &b.dm_err_id, dm_table_for(target, b.spec.effect, "", sectors), &dev);
    table = DmTarget{0, sectors, "linear", devno_text(dev) + " 0"};
  } else {
    make_loop(b);
    table = dm_table_for(target, b.spec.effect, trim(slurp("/sys/block/" + b.under_disk + "/dev")), sectors);
  }
  b.dm_name = fmt::format("aioh-{}", getpid());
  make_dm_device(b.dm_name, &b.dm_id, table, &dev);
  b.disk = fmt::format("dm-{}", minor(static_cast<dev_t>(dev)));
  b.node = node_for(b, b.disk);
}

void readback_dm(const BlockCase& b, FaultState* st) {
  const std::string& t = b.spec.target;
  if (t == "dm-delay") return readback_delay(b, st);
  Stat now = read_stat(b.disk);
  if (t == "dm-error") {
    // Every I/O the linear device passed on went to the error target.
    uint64_t ios = now.ios_since(b.before);
    std::string below;
    dm_status(b.dm_err_name, true, &below);
    bool is_error = below.find(" error") != std::string::npos;
    st->calls = static_cast<long>(ios);
    if (is_error) st->fired = static_cast<long>(ios);
    append_detail(st, fmt::format("{}: {} I/Os passed to {} ({})", b.disk, ios, b.dm_err_name, below));
    return;
  }
  // dm-flakey: writes that reached the dm device but never the disk below
  // were dropped (drop_writes) or failed (error_writes / down) by flakey itself.
  Stat under = read_stat(b.under_disk);
  uint64_t dm_w = now.wr_ios - b.before.wr_ios, under_w = under.wr_ios - b.under_before.wr_ios;
  st->calls = static_cast<long>(dm_w);
  if (dm_w > 0 && under_w == 0) st->fired = static_cast<long>(dm_w);
  append_detail(st, fmt::format("{}: {} writes; {} below it: {} writes", b.disk, dm_w, b.under_disk, under_w));
}

void teardown_dm(BlockCase& b) {
  auto& j = Journal::run_journal();
  if (b.dm_id >= 0 && dm_remove(b.dm_name).empty()) j.done(b.dm_id);
  if (b.dm_err_id >= 0 && dm_remove(b.dm_err_name).empty()) j.done(b.dm_err_id);
  if (b.loop_id >= 0 && Journal::undo(UndoKind::loop_detach, {b.loop_dev, b.loop_backing}).empty()) j.done(b.loop_id);
}

}  // namespace aioh::faults::block
