// The block fault layer's host-side pieces: the device-mapper tables and the
// DM_TABLE_LOAD buffer it hands the kernel, the effects it accepts, how it
// finds a module, the journal entries that undo a killed case's devices and
// modules, and that without null_blk/dm/scsi_debug a block row skips as
// "needs a VM" (never passes). The devices themselves run in the VM matrix.
#include <gtest/gtest.h>
#include <linux/dm-ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "faults/block.h"
#include "system/journal.h"
#include "test_util.h"

namespace aioh {
namespace {

using faults::DmTarget;

faults::FaultSpec block_spec(const char* target, const char* effect, const char* trigger = "always") {
  return {.layer = "block", .target = target, .effect = effect, .trigger = trigger};
}

TEST(BlockFaults, DmTablesFollowTheTargetsArgumentOrder) {
  DmTarget e = faults::dm_table_for("dm-error", "error", "", 8192);
  EXPECT_EQ(e.type, "error");
  EXPECT_EQ(e.params, "");
  EXPECT_EQ(e.length, 8192u);
  DmTarget f = faults::dm_table_for("dm-flakey", "drop_writes", "7:3", 8192);
  EXPECT_EQ(f.type, "flakey");
  EXPECT_EQ(f.params, "7:3 0 0 1 1 drop_writes");  // dev offset up=0 down=1 #features feature
  EXPECT_EQ(faults::dm_table_for("dm-flakey", "error_writes", "7:3", 8).params, "7:3 0 0 1 1 error_writes");
  EXPECT_EQ(faults::dm_table_for("dm-flakey", "down", "7:3", 8).params, "7:3 0 0 1");
  DmTarget d = faults::dm_table_for("dm-delay", "delay_ms:1500", "7:3", 8);
  EXPECT_EQ(d.type, "delay");
  EXPECT_EQ(d.params, "7:3 0 1500");
}

TEST(BlockFaults, TableLoadBufferLayout) {
  std::vector<DmTarget> t = {{0, 100, "error", ""}, {100, 50, "flakey", "7:3 0 0 1 1 drop_writes"}};
  std::vector<char> buf = faults::dm_table_load_buffer("aioh-x", t);
  dm_ioctl io;
  ASSERT_GE(buf.size(), sizeof io);
  memcpy(&io, buf.data(), sizeof io);
  EXPECT_EQ(io.version[0], static_cast<__u32>(DM_VERSION_MAJOR));
  EXPECT_EQ(io.data_start, sizeof(dm_ioctl));
  EXPECT_EQ(io.data_size, buf.size());
  EXPECT_EQ(io.target_count, 2u);
  EXPECT_STREQ(io.name, "aioh-x");
  size_t at = io.data_start;
  for (auto& want : t) {
    dm_target_spec spec;
    ASSERT_LE(at + sizeof spec, buf.size());
    memcpy(&spec, buf.data() + at, sizeof spec);
    EXPECT_EQ(spec.sector_start, want.start);
    EXPECT_EQ(spec.length, want.length);
    EXPECT_STREQ(spec.target_type, want.type.c_str());
    EXPECT_STREQ(buf.data() + at + sizeof spec, want.params.c_str());
    EXPECT_EQ(spec.next % 8, 0u) << "next must keep the following spec 8-byte aligned";
    EXPECT_GT(spec.next, sizeof spec + want.params.size());  // room for the NUL
    at += spec.next;
  }
  EXPECT_EQ(at, buf.size());
}

TEST(BlockFaults, ValidateAcceptsEachTargetsEffectOnly) {
  auto ok = [](const char* t, const char* e, const char* trig = "always") {
    return faults::validate(block_spec(t, e, trig)).empty();
  };
  EXPECT_TRUE(ok("null_blk-badblocks", "sectors:64-71"));
  EXPECT_TRUE(ok("scsi_debug-medium-error", "sectors:8-8"));
  EXPECT_TRUE(ok("null_blk-delay", "delay_ms:1500"));
  EXPECT_TRUE(ok("dm-delay", "delay_ms:1"));
  EXPECT_TRUE(ok("dm-error", "error"));
  EXPECT_TRUE(ok("dm-flakey", "drop_writes"));
  EXPECT_TRUE(ok("dm-flakey", "error_writes"));
  EXPECT_FALSE(ok("null_blk-badblocks", "sectors:71-64"));
  EXPECT_FALSE(ok("null_blk-badblocks", "sectors:64"));
  EXPECT_FALSE(ok("null_blk-delay", "delay_ms:0"));
  EXPECT_FALSE(ok("dm-flakey", "EIO"));
  EXPECT_FALSE(ok("dm-error", "error", "once"));
  EXPECT_FALSE(ok("dm-dust", "error"));
  faults::SectorRange r;
  ASSERT_TRUE(faults::parse_sectors("sectors:64-71", &r));
  EXPECT_EQ(r.first, 64u);
  EXPECT_EQ(r.last, 71u);
}

TEST(BlockFaults, ModulePresenceFromModulesDepAndBuiltin) {
  std::string dep = "kernel/drivers/block/null_blk/null_blk.ko: kernel/fs/configfs/configfs.ko\n"
                    "kernel/drivers/scsi/scsi_debug.ko.xz: kernel/drivers/scsi/scsi_mod.ko.xz\n";
  std::string builtin = "kernel/drivers/md/dm-mod.ko\n";
  EXPECT_TRUE(faults::module_present("null_blk", false, dep, ""));
  EXPECT_TRUE(faults::module_present("scsi_debug", false, dep, ""));
  EXPECT_TRUE(faults::module_present("dm_mod", false, "", builtin));  // '-' in the path, '_' in the name
  EXPECT_FALSE(faults::module_present("dm_mod", false, dep, ""));
  EXPECT_FALSE(faults::module_present("null", false, dep, ""));  // a prefix is not a match
  EXPECT_TRUE(faults::module_present("anything", true, "", ""));
}

TEST(BlockFaults, WithoutTheFacilityARowSkipsAsNeedsAVm) {
  EXPECT_EQ(faults::block_facility("null_blk-badblocks"), "null_blk");
  EXPECT_EQ(faults::block_facility("dm-flakey"), "device_mapper");
  EXPECT_EQ(faults::block_facility("scsi_debug-medium-error"), "scsi_debug");
  EXPECT_EQ(faults::block_skip_reason("null_blk", ""), "needs a VM: null_blk not available");
  std::string why = faults::block_facility_reason("null_blk");
  if (why.empty()) GTEST_SKIP() << "null_blk is available here: the skip path cannot be shown";
  faults::FaultState* st = faults::state_alloc();
  ASSERT_NE(st, nullptr);
  test::TempDir d;
  auto in = faults::install(block_spec("null_blk-badblocks", "sectors:64-71"), 1, st, d.path, false);
  faults::release();
  EXPECT_EQ(in.kind, faults::Installed::skip);
  EXPECT_EQ(in.reason.rfind("needs a VM: ", 0), 0u) << in.reason;
  EXPECT_EQ(faults::block_device(), "");
  EXPECT_EQ(st->fired.load(), 0);
  faults::state_free(st);
}

// A case killed with its devices still there: the runner's undo_pid() runs
// each new kind's undo from the journal (here on names of the harness's own
// pattern that do not exist on this host), and refuses a step outside that
// pattern (a directory that is no null_blk item) without touching it.
TEST(BlockFaults, KilledCaseDevicesAreUndoneFromTheJournal) {
  test::TempDir d;
  std::string stand_in = d.path + "/nullb-item";
  ASSERT_EQ(mkdir(stand_in.c_str(), 0700), 0);
  std::string item = fmt::format("/sys/kernel/config/nullb/aioh-{}", 4194000 + getpid() % 300);
  std::string dm = fmt::format("aioh-{}", 4194000 + getpid() % 300);
  if (std::filesystem::exists("/sys/module/null_blk")) GTEST_SKIP() << "null_blk is loaded here: not the test's to unload";
  Journal::run_journal();
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t pid = fork();
  if (pid == 0) {
    Journal::run_journal().record(UndoKind::module_unload, {"null_blk"});
    Journal::run_journal().record(UndoKind::nullb_remove, {item});
    Journal::run_journal().record(UndoKind::dm_remove, {dm});
    long refused = Journal::run_journal().record(UndoKind::nullb_remove, {stand_in});
    (void)!write(p[1], &refused, sizeof refused);
    _exit(0);  // "killed": nothing undone by the owner
  }
  close(p[1]);
  long refused_id = -1;
  ASSERT_EQ(read(p[0], &refused_id, sizeof refused_id), static_cast<ssize_t>(sizeof refused_id));
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  auto undone = Journal::run_journal().undo_pid(pid);
  ASSERT_EQ(undone.size(), 4u);
  EXPECT_EQ(undone[0].rfind("nullb_remove " + stand_in + ": refused: ", 0), 0u) << undone[0];  // newest first
  EXPECT_EQ(undone[1], "dm_remove " + dm + ": ok");
  EXPECT_EQ(undone[2], "nullb_remove " + item + ": ok");
  EXPECT_EQ(undone[3], "module_unload null_blk: ok");
  EXPECT_TRUE(std::filesystem::exists(stand_in)) << "a refused step was carried out";
  auto again = Journal::run_journal().undo_pid(pid);
  ASSERT_EQ(again.size(), 1u) << "undone entries must be marked done";
  EXPECT_EQ(again[0].rfind("nullb_remove " + stand_in + ": refused: ", 0), 0u) << again[0];
  Journal::run_journal().done(refused_id);  // the test's own stand-in: not left for every later run to report
}

TEST(BlockFaults, ReissueProbeIsUndecidedWhereItCannotRun) {
  // Without null_blk (this host) the defect cannot be reproduced: no fact, a reason.
  if (faults::block_facility_reason("null_blk").empty()) GTEST_SKIP() << "null_blk present: the probe decides";
  test::TempDir d;
  auto r = faults::probe_buffered_read_reissue(d.path);
  EXPECT_FALSE(r.reissued.has_value());
  EXPECT_FALSE(r.why.empty());
}

}  // namespace
}  // namespace aioh
