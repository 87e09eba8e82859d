// Tests for the sweep's targets: row selection and id expansion, the fact
// overlay (a target never inherits the scratch filesystem's geometry), the
// --device safety refusal, and, as root, that a created loop device and mount
// really have the probed geometry and are gone after teardown.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "case_table.h"
#include "targets/target.h"
#include "test_util.h"

namespace aioh {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(Targets, SelectorsMatchNameKindFsAndGroups) {
  auto ts = default_targets();
  auto find = [&](const std::string& n) {
    for (auto& t : ts)
      if (t.name == n) return t;
    ADD_FAILURE() << "no default target " << n;
    return Target{};
  };
  Target loop = find("loop-4096"), xfs = find("xfs-4096"), tmp = find("tmpfs");
  EXPECT_TRUE(target_selected("all", loop));
  EXPECT_TRUE(target_selected("blockdev", loop));
  EXPECT_FALSE(target_selected("files", loop));
  EXPECT_TRUE(target_selected("files", xfs));
  EXPECT_TRUE(target_selected("xfs", xfs));
  EXPECT_TRUE(target_selected("xfs-4096", xfs));
  EXPECT_FALSE(target_selected("ext4", xfs));
  EXPECT_TRUE(target_selected("tmpfs", tmp));
  EXPECT_FALSE(target_selected("blockdev", tmp));
}

TEST(Targets, OverlayDropsScratchGeometry) {
  Environment env;
  env.facts["dio_mem_align"] = int64_t{512};
  env.facts["dio_offset_align"] = int64_t{512};
  env.facts["root"] = true;
  Target t;
  t.name = "tmpfs";
  t.facts["dio"] = true;
  t.facts["dio_fallback"] = true;
  Environment e = overlay(env, t);
  EXPECT_FALSE(e.number("dio_mem_align").has_value()) << "tmpfs must not inherit the scratch fs's alignment";
  EXPECT_TRUE(e.flag("dio_fallback"));
  EXPECT_TRUE(e.flag("root"));
}

TEST(Targets, RowsExpandPerTargetWithSuffixedIds) {
  test::TempDir d;
  d.write("t.toml", test::case_table("dio", {{.id = "x", .scenario = "dio_sweep", .interfaces = R"(["io_uring"])",
      .targets = R"(["blockdev", "tmpfs"])", .params = R"({ op = "read" })", .expect = "0@open",
      .when = R"([{ if = "dio_fallback", expect = "0@open" }])"}}));
  auto rows = load_case_dir(d.path);
  auto runs = expand(rows, {"io_uring"}, default_targets());
  std::vector<std::string> ids;
  for (auto& r : runs) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"dio.x@io_uring/loop-512", "dio.x@io_uring/loop-4096",
                                           "dio.x@io_uring/tmpfs"}));
  EXPECT_EQ(run_target(runs[0]), "loop-512");
  EXPECT_EQ(run_target(CaseRun{nullptr, "io_uring", "errors.bad-fd@io_uring"}), "");
}

TEST(Targets, UnknownFactStillRejected) {
  test::TempDir d;
  d.write("t.toml", test::case_table("dio", {{.id = "x", .scenario = "dio_sweep", .targets = R"("all")",
      .expect = "0@open", .when = R"([{ if = "no_such_fact", expect = "0@open" }])"}}));
  EXPECT_THROW(load_case_dir(d.path), LoadError);
}

TEST(Targets, GuestDisksNameTargetsWithoutTheGeometry) {
  auto ts = guest_targets("raw=/dev/nvme0n2,ext4=/dev/nvme0n3,xfs=/dev/nvme0n4,btrfs=/dev/nvme0n5");
  std::vector<std::string> names;
  for (auto& t : ts) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"disk", "disk-ext4", "disk-xfs", "disk-btrfs", "loop-512", "loop-4096",
                                             "tmpfs"}));
  EXPECT_EQ(ts[0].kind, "raw");
  EXPECT_EQ(ts[0].guest_disk, "/dev/nvme0n2");
  EXPECT_TRUE(target_selected("blockdev", ts[0]));
  EXPECT_EQ(ts[2].kind, "fs");
  EXPECT_EQ(ts[2].fs, "xfs");
  EXPECT_TRUE(ts[4].guest_disk.empty()) << "loop targets stay loops over files";
  EXPECT_THROW(guest_targets("zfs=/dev/vdb"), std::invalid_argument);
  EXPECT_THROW(guest_targets("raw="), std::invalid_argument);
}

TEST(Targets, GuestDiskRefusedOutsideAGuestOrWithoutTheLabel) {
  test::TempDir d;
  unsetenv("AIOH_VM_GUEST");
  EXPECT_NE(guest_disk_refusal("/dev/null").find("not in an orchestrator guest"), std::string::npos);
  setenv("AIOH_VM_GUEST", "1", 1);
  EXPECT_NE(guest_disk_refusal(d.path).find("not a block device"), std::string::npos);
  // The host's own root disk, or any disk without the label, is never taken.
  std::string root_dev;
  for (const char* cand : {"/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/loop0"})
    if (std::filesystem::is_block_file(cand)) root_dev = cand;
  if (!root_dev.empty()) {
    std::string why = guest_disk_refusal(root_dev);
    EXPECT_FALSE(why.empty()) << root_dev << " would be taken as a guest disk";
  }
  unsetenv("AIOH_VM_GUEST");
}

// Writes the orchestrator's guest-disk label at offset 0 of dev.
bool label_as_guest_disk(const std::string& dev) {
  int fd = open(dev.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = pwrite(fd, kGuestDiskLabel, sizeof kGuestDiskLabel - 1, 0) == static_cast<ssize_t>(sizeof kGuestDiskLabel - 1);
  ok = fsync(fd) == 0 && ok;
  close(fd);
  return ok;
}

// A labelled disk passes only while --device's rules refuse nothing: the
// same disk mounted is refused, naming the mount. (ext4 leaves the first
// 1024 bytes alone, so the label is written after mkfs.)
TEST(Targets, GuestDiskMountedIsRefusedByTheDeviceGuard) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  test::Loop l;
  if (l.dev.empty()) GTEST_SKIP() << "no loop device here";
  ASSERT_TRUE(l.mkfs_and_mount());
  ASSERT_TRUE(label_as_guest_disk(l.dev));
  setenv("AIOH_VM_GUEST", "1", 1);
  std::string why = guest_disk_refusal(l.dev);
  EXPECT_NE(why.find("is mounted on " + l.mnt), std::string::npos) << why;
  l.umount_it();
  EXPECT_EQ(guest_disk_refusal(l.dev), "");
  unsetenv("AIOH_VM_GUEST");
}

// Two targets naming one disk (in a guest, a namespace name that resolved
// twice) would be formatted at once: the later one is refused, the first made.
TEST(Targets, TwoTargetsOnOneDiskTheLaterIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  test::Loop l;
  if (l.dev.empty()) GTEST_SKIP() << "no loop device here";
  ASSERT_TRUE(label_as_guest_disk(l.dev));
  setenv("AIOH_VM_GUEST", "1", 1);
  test::TempDir d;
  {
    TargetSet set(guest_targets("ext4=" + l.dev + ",xfs=" + l.dev));
    set.create({"disk-ext4", "disk-xfs"}, d.path, nullptr);
    EXPECT_EQ(set.find("disk-ext4")->reason, "");
    EXPECT_NE(set.find("disk-xfs")->reason.find("is the device of target disk-ext4 too"), std::string::npos)
        << set.find("disk-xfs")->reason;
  }
  unsetenv("AIOH_VM_GUEST");
}

TEST(Targets, MalformedGuestDisksIsOneUsageLine) {
  auto r = test::run_cmd("AIOH_GUEST_DISKS=zfs=/dev/vdb " + test::harness_bin() + " --list");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("AIOH_GUEST_DISKS"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

TEST(Targets, DeviceWithoutDestructiveIsRefused) {
  auto r = test::run_cmd(test::harness_bin() + " --device /dev/null --list");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--destructive"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

TEST(Targets, NonRootTargetsAreUnavailableWithTheReason) {
  test::TempDir d;
  std::filesystem::permissions(d.path, std::filesystem::perms::all);
  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && setuid(65534) != 0) _exit(3);
    TargetSet set(default_targets());
    set.create({"loop-512", "tmpfs"}, d.path, nullptr);
    bool ok = set.find("loop-512")->reason.find("needs root") != std::string::npos &&
              set.find("tmpfs")->reason.find("needs root") != std::string::npos;
    _exit(ok ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st));
  if (WEXITSTATUS(st) == 3) GTEST_SKIP() << "cannot drop to uid 65534";
  EXPECT_EQ(WEXITSTATUS(st), 0);
}

TEST(Targets, LoopAndTmpfsHaveProbedGeometryAndLeaveNothing) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create loop devices and mounts";
  test::TempDir d;
  std::string dev, mp;
  {
    TargetSet set(default_targets());
    set.create({"loop-4096", "tmpfs"}, d.path, nullptr);
    const Target* loop = set.find("loop-4096");
    const Target* tmp = set.find("tmpfs");
    if (!loop->reason.empty()) GTEST_SKIP() << "loop device unavailable here: " << loop->reason;
    dev = loop->device;
    mp = tmp->dir;
    auto num = [](const Target* t, const char* k) {
      auto it = t->facts.find(k);
      return it == t->facts.end() ? int64_t{-1} : std::get<int64_t>(it->second);
    };
    EXPECT_EQ(num(loop, "logical_block_size"), 4096);
    EXPECT_EQ(num(loop, "dio_offset_align"), 4096);
    EXPECT_TRUE(std::get<bool>(loop->facts.at("dio")));
    EXPECT_TRUE(std::get<bool>(loop->facts.at("target_raw")));
    ASSERT_TRUE(tmp->reason.empty()) << tmp->reason;
    EXPECT_TRUE(std::get<bool>(tmp->facts.at("dio_fallback")));
    EXPECT_NE(slurp("/proc/mounts").find(mp), std::string::npos);
    auto errs = set.teardown();
    EXPECT_TRUE(errs.empty()) << errs.front();
  }
  std::string blk = std::filesystem::path(dev).filename();
  std::string backing = slurp("/sys/block/" + blk + "/loop/backing_file");
  EXPECT_EQ(backing.find(d.path), std::string::npos) << dev << " still backed by " << backing;
  EXPECT_EQ(slurp("/proc/mounts").find(mp), std::string::npos) << mp << " still mounted";
}

}  // namespace
}  // namespace aioh
