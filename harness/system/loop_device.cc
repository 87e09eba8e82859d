// The loop-device helper (see loop_device.h).
#include "system/loop_device.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <fmt/format.h>

#include "system/journal.h"

namespace aioh::system {

LoopDevice attach_loop(int backing_fd, const std::string& backing, const LoopOptions& o) {
  LoopDevice d;
  auto fail = [&](LoopDevice::Step step, int err) {
    d.failed = step;
    d.err = err;
    return d;
  };
  int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0) return fail(LoopDevice::control, errno);
  Journal& j = Journal::run_journal();
  for (int attempt = 0; attempt < o.attempts; attempt++) {
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    if (n < 0) {
      d = fail(LoopDevice::get_free, errno);
      break;
    }
    d.number = n;
    d.path = fmt::format("/dev/loop{}", n);
    d.journal_id = j.record(UndoKind::loop_detach, {d.path, backing});
    int lfd = open(d.path.c_str(), O_RDWR | O_CLOEXEC);
    if (lfd < 0) {
      d = fail(LoopDevice::open_device, errno);
      j.done(d.journal_id);
      break;
    }
    loop_config cfg{};
    cfg.fd = static_cast<uint32_t>(backing_fd);
    cfg.block_size = o.block_size;
    if (o.autoclear) cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    snprintf(reinterpret_cast<char*>(cfg.info.lo_file_name), LO_NAME_SIZE, "%s", backing.c_str());
    if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
      d.fd = lfd;
      d.failed = LoopDevice::none;
      break;
    }
    int err = errno;
    close(lfd);
    j.done(d.journal_id);
    d = fail(LoopDevice::configure, err);
    if (err != EBUSY) break;
  }
  close(ctl);
  if (!d.ok()) d.journal_id = -1;
  return d;
}

}  // namespace aioh::system
