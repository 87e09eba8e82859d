// The vm (device) fault layer's own tests: a row's blkdebug rule is parsed
// and named exactly as the VM orchestrator names it (vm/devfaults.py), bad
// rules are refused at load, each interface has its own slot, the block
// layer's failed-request log line is parsed for sector and op, and outside an
// orchestrator guest (or in a guest whose disk carries another rule) a row
// skips with the rule it needs, without touching any device.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "faults/fault.h"

namespace aioh {
namespace {

faults::FaultSpec spec(const std::string& target, const std::string& effect, const std::string& trigger) {
  return {.layer = "vm", .target = target, .effect = effect, .trigger = trigger};
}

TEST(DeviceFault, RuleTextMatchesTheOrchestrator) {
  auto r = faults::parse_device_rule(spec("blkdebug:read_aio@2621440", "EIO", "once"), nullptr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text(), "read_aio:EIO:sector=2621440");
  r = faults::parse_device_rule(spec("blkdebug:write_aio@8", "ENOSPC", "always"), nullptr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text(), "write_aio:ENOSPC:sector=8:always");
  r = faults::parse_device_rule(spec("blkdebug:flush_to_disk", "EIO", "always"), nullptr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text(), "flush_to_disk:EIO:always");
  r = faults::parse_device_rule(spec("throttle:iops=2", "latency", "always"), nullptr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text(), "throttle:iops=2");  // vm/qemu.py Throttle.text
  EXPECT_EQ(r->iops, 2);
}

TEST(DeviceFault, BadRulesAreRefusedAtLoad) {
  EXPECT_EQ(faults::validate(spec("blkdebug:read_aio@100", "EIO", "once")), "");
  EXPECT_NE(faults::validate(spec("dm-error", "EIO", "always")), "");
  EXPECT_NE(faults::validate(spec("blkdebug:read_aio", "EIO", "once")), "");          // no sector
  EXPECT_NE(faults::validate(spec("blkdebug:flush_to_disk@8", "EIO", "always")), "");  // flush with one
  EXPECT_NE(faults::validate(spec("blkdebug:flush_to_disk", "EIO", "once")), "");      // not per interface
  EXPECT_NE(faults::validate(spec("blkdebug:l2_load@8", "EIO", "once")), "");
  EXPECT_NE(faults::validate(spec("blkdebug:read_aio@8", "NOTANERRNO", "once")), "");
  EXPECT_NE(faults::validate(spec("blkdebug:read_aio@8", "EIO", "nth:2")), "");
  EXPECT_NE(faults::validate(spec("throttle:iops=0", "latency", "always")), "");
  EXPECT_NE(faults::validate(spec("throttle:iops=2", "EIO", "always")), "");
}

TEST(DeviceFault, EachInterfaceHasItsSlot) {
  EXPECT_EQ(faults::device_slot("posix-aio"), 0);
  EXPECT_EQ(faults::device_slot("kernel-aio"), 1);
  EXPECT_EQ(faults::device_slot("libaio"), 2);
  EXPECT_EQ(faults::device_slot("io_uring"), 3);
  EXPECT_EQ(faults::device_slot("nope"), -1);
}

TEST(DeviceFault, ParsesTheBlockLayerErrorLine) {
  std::string op;
  // 6.x blk_print_req_error, and 5.10's blk_update_request prefix.
  auto s = faults::parse_block_error(
      "critical medium error, dev nvme0n1, sector 2621440 op 0x0:(READ) flags 0x4800 phys_seg 1 prio class 0",
      "nvme0n1", &op);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, 2621440);
  EXPECT_EQ(op, "READ");
  s = faults::parse_block_error("blk_update_request: I/O error, dev nvme0n1, sector 8 op 0x1:(WRITE) flags 0x8800",
                                "nvme0n1", &op);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, 8);
  EXPECT_EQ(op, "WRITE");
  EXPECT_FALSE(faults::parse_block_error("I/O error, dev nvme0n10, sector 8 op 0x1:(WRITE)", "nvme0n1", &op));
  EXPECT_FALSE(faults::parse_block_error("nvme0n1: p1", "nvme0n1", &op));
}

TEST(DeviceFault, SkipsOutsideAGuestWithItsRule) {
  faults::FaultState* st = faults::state_alloc();
  faults::FaultSpec f = spec("blkdebug:read_aio@2621440", "EIO", "once");
  const faults::FaultLayer* vm = faults::find_fault_layer("vm");
  ASSERT_NE(vm, nullptr);
  unsetenv("AIOH_VM_GUEST");
  auto in = vm->install(f, st, "/tmp");
  EXPECT_EQ(in.kind, faults::Installed::skip);
  EXPECT_NE(in.reason.find("needs a VM"), std::string::npos) << in.reason;
  setenv("AIOH_VM_GUEST", "1", 1);
  setenv("AIOH_DEVICE_FAULT", "write_aio:EIO:sector=8", 1);
  in = vm->install(f, st, "/tmp");
  EXPECT_EQ(in.kind, faults::Installed::skip);
  EXPECT_NE(in.reason.find("needs a VM with read_aio:EIO:sector=2621440"), std::string::npos) << in.reason;
  // Armed, but no such device: broken, never a silent pass.
  setenv("AIOH_DEVICE_FAULT", "write_aio:EIO:sector=8;read_aio:EIO:sector=2621440", 1);
  setenv("AIOH_FAULT_DEVICE", "/nonexistent/disk", 1);
  in = vm->install(f, st, "/tmp");
  EXPECT_EQ(in.kind, faults::Installed::broken) << in.reason;
  EXPECT_TRUE(faults::device_target("io_uring").device.empty());
  for (const char* v : {"AIOH_VM_GUEST", "AIOH_DEVICE_FAULT", "AIOH_FAULT_DEVICE"}) unsetenv(v);
  faults::state_free(st);
}

}  // namespace
}  // namespace aioh
