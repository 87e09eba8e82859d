// Direct descriptors io_uring picks itself: an OPENAT with file_index
// IORING_FILE_INDEX_ALLOC takes a free slot of the registered file table and
// returns its index in cqe->res (5.19), and IORING_REGISTER_FILE_ALLOC_RANGE
// (6.0) confines that choice to [off, off + len). Checked: the slots handed
// out in order, ENFILE once the range is full, the range's own refusals, a
// slot freed below the range not being handed out (io_uring/filetable.c
// io_file_bitmap_get() clamps its hint to the range), and that an allocated
// slot really holds the file (a fixed read of it, verified).
#include "errno_names.h"
#include "pattern.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

// mode:
//  no-range        8 sparse slots, three allocating opens: their res (slot
//                  indices), then a fixed read of 16 bytes from the last slot.
//  in-range        range [4, 6): three allocating opens: res each.
//  hint-below      range [4, 7): an allocating open (4), slot 2 filled and
//                  emptied through FILES_UPDATE, another allocating open: res each.
//  range-past-end  range [6, 10) on 8 slots: the register result.
//  range-overflow  range off 0xffffffff len 2: the register result.
//  no-table        an allocating open with no file table: res.
//  cloexec         an allocating open with O_CLOEXEC: res.
AIOH_URING_CHOICE_SCENARIO(uring_file_alloc, 8, mode, "no-range", "the allocation case",
                           "no-range", "in-range", "hint-below", "range-past-end", "range-overflow", "no-table",
                           "cloexec") {
  io_uring& ring = be.ring();
  int fd = ctx.scratch_file("alloc", 8192, O_RDWR | O_CLOEXEC);
  const std::string path = ctx.scratch_dir() + "/alloc";
  auto reg_result = [&](int r) {
    ctx.observe(r < 0 ? Outcome::error(-r, Channel::ret, Phase::setup) : Outcome::ok(r, Channel::ret, Phase::setup));
  };
  uint64_t tag = 1;
  // A direct descriptor has no close-on-exec: O_CLOEXEC is refused with it.
  auto alloc_open = [&](int extra = 0) {
    submit_one(ctx, be, tag++, [&](io_uring_sqe* s) {
      io_uring_prep_openat(s, AT_FDCWD, path.c_str(), O_RDONLY | extra, 0);
      s->file_index = IORING_FILE_INDEX_ALLOC;
    });
    const int r = reap(ctx, be, 1)[0].res;
    ctx.observe(IoUringBackend::res_outcome(r));
    return r;
  };
  if (mode == "no-table") {
    alloc_open();
    close(fd);
    return;
  }
  if (mode == "cloexec") {
    if (int r = io_uring_register_files_sparse(&ring, 8); r < 0) ctx.broken("register sparse files: " + errno_name(-r));
    alloc_open(O_CLOEXEC);
    close(fd);
    return;
  }
  if (int r = io_uring_register_files_sparse(&ring, 8); r < 0) ctx.broken("register sparse files: " + errno_name(-r));
  if (mode == "range-past-end" || mode == "range-overflow") {
    reg_result(mode == "range-past-end" ? io_uring_register_file_alloc_range(&ring, 6, 4)
                                        : io_uring_register_file_alloc_range(&ring, 0xffffffffu, 2));
  } else if (mode == "no-range") {
    int last = -1;
    for (int i = 0; i < 3; ++i) last = alloc_open();
    if (last >= 0) {
      uint8_t b[16] = {};
      submit_one(ctx, be, tag++, [&](io_uring_sqe* s) {
        io_uring_prep_read(s, last, b, 16, 0);
        s->flags |= IOSQE_FIXED_FILE;
      });
      const int n = reap(ctx, be, 1)[0].res;
      ctx.observe(Outcome::ok(n == 16 && verify_buffer(b, 16, kFileSeed, 0).empty() ? 16 : -1, Channel::ret,
                              Phase::completion));
    }
  } else if (mode == "in-range") {
    if (int r = io_uring_register_file_alloc_range(&ring, 4, 2); r < 0) ctx.broken("alloc range: " + errno_name(-r));
    for (int i = 0; i < 3; ++i) alloc_open();
  } else {  // hint-below
    if (int r = io_uring_register_file_alloc_range(&ring, 4, 3); r < 0) ctx.broken("alloc range: " + errno_name(-r));
    alloc_open();
    int fill[1] = {fd}, empty[1] = {-1};
    if (io_uring_register_files_update(&ring, 2, fill, 1) != 1 || io_uring_register_files_update(&ring, 2, empty, 1) != 1)
      ctx.broken("files update of slot 2");
    alloc_open();
  }
  close(fd);
}

}  // namespace
}  // namespace aioh
