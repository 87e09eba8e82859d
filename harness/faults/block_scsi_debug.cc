// The block layer's scsi_debug mechanism: the module loaded for the case
// with a medium-error range (medium_error_start/count), which fails reads
// once opts has SDEBUG_OPT_MEDIUM_ERR. The proof it fired is the SCSI
// device's own count of commands that ended in error (ioerr_cnt).
#include <glob.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "faults/block_mechanism.h"

namespace aioh::faults::block {
namespace {

constexpr const char* kOpts = "/sys/bus/pseudo/drivers/scsi_debug/opts";

// The disk scsi_debug's one host gets (the SCSI scan may finish after modprobe).
std::string scsi_debug_disk() {
  for (int i = 0; i < 200; i++) {
    glob_t gl{};
    std::string disk;
    if (glob("/sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*:*/block/*", 0, nullptr, &gl) == 0 &&
        gl.gl_pathc > 0)
      disk = std::string(gl.gl_pathv[0]).substr(std::string(gl.gl_pathv[0]).rfind('/') + 1);
    globfree(&gl);
    if (!disk.empty() && exists("/sys/block/" + disk + "/dev")) return disk;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

uint64_t ioerr_cnt(const std::string& disk) {
  return strtoull(trim(slurp("/sys/block/" + disk + "/device/ioerr_cnt")).c_str(), nullptr, 0);
}

}  // namespace

void make_scsi_debug(BlockCase& b) {
  if (exists("/sys/module/scsi_debug"))
    throw BlockFail{Installed::skip, "scsi_debug is already loaded: not this case's to configure"};
  load_module(b, "sd_mod");
  // drivers/scsi/scsi_debug.c: medium_error_start/medium_error_count (LBAs)
  // bound the range resp_read_dt0() fails while opts has SDEBUG_OPT_MEDIUM_ERR (2).
  load_module(b, "scsi_debug", {"dev_size_mb=" + std::to_string(kDeviceMiB), "sector_size=512", "opts=0",
                                "medium_error_start=" + std::to_string(b.range.first),
                                "medium_error_count=" + std::to_string(b.range.last - b.range.first + 1)});
  b.disk = scsi_debug_disk();
  if (b.disk.empty()) throw BlockFail{Installed::broken, "scsi_debug loaded but no disk appeared within 10 s"};
  b.node = node_for(b, b.disk);
  prefill(b.node);
  b.ioerr_before = ioerr_cnt(b.disk);
  if (auto e = put(kOpts, "2"); !e.empty()) throw BlockFail{Installed::broken, e};
}

void readback_scsi_debug(const BlockCase& b, FaultState* st) {
  uint64_t errs = ioerr_cnt(b.disk) - b.ioerr_before;
  st->calls = st->fired = static_cast<long>(errs);
  auto lines = kmsg_lines_for(b, b.disk);
  append_detail(st, fmt::format("{} ioerr_cnt +{}{}", b.disk, errs, lines.empty() ? "" : "; kernel log: " + lines.front().substr(0, 160)));
}

void teardown_scsi_debug(BlockCase&) {
  if (exists(kOpts)) put(kOpts, "0");
}

}  // namespace aioh::faults::block
