// Tagged io_uring resources (5.13, IORING_FEAT_RSRC_TAGS): file and buffer
// tables registered with IORING_REGISTER_FILES2 / BUFFERS2 and a tag per
// slot, updated with IORING_REGISTER_FILES_UPDATE2 / BUFFERS_UPDATE (slots
// left alone with IORING_REGISTER_FILES_SKIP), sparse tables
// (IORING_RSRC_REGISTER_SPARSE, 5.19), and the CQE a tag posts (user_data =
// the tag, res 0) once its slot is replaced or unregistered and the last
// request using it has finished (io_uring/rsrc.c io_free_rsrc_node()).
// The argument checks of io_uring/rsrc.c io_register_rsrc() and
// io_register_rsrc_update() are each shown next to the same call corrected,
// so an EINVAL is the field's and not an unknown opcode's. liburing 2.3's
// *_tags helpers make the well-formed calls; the malformed ones go through
// the raw io_uring_register with struct io_uring_rsrc_register/update2.
// Register calls are phase setup; a tag's CQE is its user_data then its
// res, both at completion.
#include <sys/resource.h>
#include <sys/uio.h>

#include "convention.h"
#include "pattern.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

// A tag's CQE, or a request's, as the rows write them: user_data, then res.
void observe_tag_cqe(CaseContext& ctx, const RawCqe& c) {
  ctx.observe(Outcome::ok(static_cast<int64_t>(c.user_data), Channel::ret, Phase::completion));
  ctx.observe(IoUringBackend::res_outcome(c.res));
}

// mode:
//  files-tag-on-update (FILES2 of one file tagged 11: 0; FILES_UPDATE2 of
//    slot 0 to another file tagged 12: 1; CQE 11/0; UNREGISTER_FILES: 0;
//    CQE 12/0) |
//  files-tag-deferred (a pipe's read end tagged 21; a fixed-file READ of it
//    pending; the slot updated to -1: 1; no CQE within 100 ms: 0; 4 bytes
//    written: the READ's 4, then CQE 21/0, in arrival order) |
//  buffers-tag-deferred (BUFFERS2 of one 4 KiB buffer tagged 31; a
//    READ_FIXED of a pipe into it pending; BUFFERS_UPDATE of slot 0 to an
//    empty iovec: 1; no CQE within 100 ms: 0; 8 bytes written: READ 8 (data
//    checked), then CQE 31/0) |
//  files-skip (two files tagged 41, 42; FILES_UPDATE2 {SKIP, third file}:
//    2; CQE 42/0 only: none more within 100 ms: 0; slot 0 still reads the
//    first file: 4096) |
//  files-skip-tagged (FILES_UPDATE2 {SKIP} with tag 5: EINVAL; {SKIP}
//    untagged: 1; a file with tag 5: 1) |
//  files-empty-slot-tagged (FILES2 {-1} tagged 7: EINVAL; FILES2 {-1}
//    untagged: 0, the failed call left no table) |
//  buffers-empty-slot-tagged (BUFFERS2 {NULL, 0} tagged 9: EINVAL; untagged:
//    0) |
//  register-resv2 / register-flags / register-size (FILES2 with resv2 set,
//    flags bit 1, nr_args not sizeof(struct io_uring_rsrc_register): EINVAL;
//    the same call well formed: 0) |
//  update-bad-args (FILES_UPDATE2 with resv, resv2, nr 0, a short size: four
//    EINVAL; then well formed: 1) |
//  update-no-table (FILES_UPDATE2 and BUFFERS_UPDATE with no table: ENXIO,
//    ENXIO) |
//  sparse-tagged (FILES2 SPARSE nr 2 with tags {0, 3}: EINVAL; SPARSE with
//    data: EINVAL; SPARSE untagged: 0) |
//  sparse-update-tag (FILES2 SPARSE nr 4: 0; FILES_UPDATE2 slot 2 tagged
//    61: 1; UNREGISTER_FILES: 0; CQE 61/0) |
//  files-over-nofile (RLIMIT_NOFILE lowered to 64 in this child: FILES2 of 65
//    empty slots: EMFILE; of 64: 0) |
//  buffers-over-max (BUFFERS2 of 16385 empty slots: EINVAL; SPARSE 16384:
//    0, IORING_MAX_REG_BUFFERS)
AIOH_URING_CHOICE_SCENARIO(uring_rsrc_tags, 8, mode, "files-tag-on-update", "the tagged-resource case",
                           "files-tag-on-update", "files-tag-deferred", "buffers-tag-deferred", "files-skip",
                           "files-skip-tagged", "files-empty-slot-tagged", "buffers-empty-slot-tagged",
                           "register-resv2", "register-flags", "register-size", "update-bad-args", "update-no-table",
                           "sparse-tagged", "sparse-update-tag", "files-over-nofile", "buffers-over-max") {
  io_uring& ring = be.ring();
  const unsigned rfd = static_cast<unsigned>(ring.ring_fd);
  auto lib = [&](const char* name, auto call) { return static_cast<int>(lib_call(ctx, name, call)); };
  auto raw = [&](unsigned op, void* arg, unsigned nr, const char* name) {
    return register_call(ctx, static_cast<int>(rfd), op, arg, nr, name);
  };
  auto files2 = [&](io_uring_rsrc_register rr, unsigned size = sizeof(io_uring_rsrc_register)) {
    return raw(IORING_REGISTER_FILES2, &rr, size, "io_uring_register(FILES2)");
  };
  auto update2 = [&](unsigned op, io_uring_rsrc_update2 up, unsigned size = sizeof(io_uring_rsrc_update2)) {
    return raw(op, &up, size, op == IORING_REGISTER_FILES_UPDATE2 ? "io_uring_register(FILES_UPDATE2)"
                                                                 : "io_uring_register(BUFFERS_UPDATE)");
  };
  auto ptr = [](const void* p) { return static_cast<__u64>(reinterpret_cast<uintptr_t>(p)); };
  // Up to `n` CQEs within 3 s, in arrival order; fewer is not broken but
  // observed: a tag that never comes fails the row.
  auto arrived = [&](unsigned n) {
    std::vector<RawCqe> got;
    (void)be.reap(n, ms(3000), got, n);
    return got;
  };
  // The one CQE in flight, a tag's: its user_data and res, or 0 for none.
  auto tag_cqe = [&] {
    auto got = arrived(1);
    if (got.empty()) return ctx.observe(Outcome::ok(0, Channel::ret, Phase::completion));
    observe_tag_cqe(ctx, got[0]);
  };
  int a = ctx.scratch_file("a", 8192, O_RDONLY | O_CLOEXEC);
  int b = ctx.scratch_file("b", 8192, O_RDONLY | O_CLOEXEC);
  if (a < 0 || b < 0) ctx.broken("scratch files");

  if (mode == "files-tag-on-update") {
    __u64 t1 = 11, t2 = 12;
    if (lib("io_uring_register_files_tags", [&] { return io_uring_register_files_tags(&ring, &a, &t1, 1); }) != 0) return;
    if (lib("io_uring_register_files_update_tag", [&] { return io_uring_register_files_update_tag(&ring, 0, &b, &t2, 1); }) != 1)
      return;
    tag_cqe();
    lib("io_uring_unregister_files", [&] { return io_uring_unregister_files(&ring); });
    tag_cqe();
  } else if (mode == "files-tag-deferred" || mode == "buffers-tag-deferred") {
    const bool files = mode == "files-tag-deferred";
    Pipe p;
    if (!p.ok()) ctx.broken("pipe2");
    AlignedBuffer buf(4096);
    iovec iov{buf.data(), 4096};
    __u64 tag = files ? 21 : 31;
    int fd = p.r();
    if (lib(files ? "io_uring_register_files_tags" : "io_uring_register_buffers_tags", [&] {
          return files ? io_uring_register_files_tags(&ring, &fd, &tag, 1)
                       : io_uring_register_buffers_tags(&ring, &iov, &tag, 1);
        }) != 0)
      return;
    const unsigned len = files ? 4 : 8;
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
      if (files) {
        io_uring_prep_read(s, 0, buf.data(), len, 0);
        s->flags |= IOSQE_FIXED_FILE;
      } else {
        io_uring_prep_read_fixed(s, p.r(), buf.data(), len, 0, 0);
      }
    });
    if (ready_within(be, 50) != 0) ctx.broken("the pipe read completed with no data written");
    int none = -1;
    iovec empty{nullptr, 0};
    __u64 zero = 0;
    // A refused update leaves the READ pending: the ring's teardown cancels it.
    if (lib(files ? "io_uring_register_files_update_tag" : "io_uring_register_buffers_update_tag", [&] {
          return files ? io_uring_register_files_update_tag(&ring, 0, &none, &zero, 1)
                       : io_uring_register_buffers_update_tag(&ring, 0, &empty, &zero, 1);
        }) != 1)
      return;
    // The slot is gone but the READ still holds its file/buffer: no tag yet.
    ctx.observe(Outcome::ok(ready_within(be, 100), Channel::ret, Phase::completion));
    std::vector<uint8_t> data(len);
    fill_pattern(data.data(), len, kWriteSeed, 0);
    if (write(p.w(), data.data(), len) != static_cast<ssize_t>(len)) ctx.broken("pipe write");
    for (const RawCqe& c : arrived(2)) {
      if (c.user_data == 1) {
        ctx.observe(IoUringBackend::res_outcome(c.res));
        if (c.res == static_cast<int>(len))
          ctx.check(memcmp(buf.data(), data.data(), len) == 0, "the pipe read's data differs from what was written");
      } else {
        observe_tag_cqe(ctx, c);
      }
    }
  } else if (mode == "files-skip") {
    int c = ctx.scratch_file("c", 8192, O_RDONLY | O_CLOEXEC);
    int fds[2] = {a, b};
    __u64 tags[2] = {41, 42};
    if (lib("io_uring_register_files_tags", [&] { return io_uring_register_files_tags(&ring, fds, tags, 2); }) != 0) return;
    int upd[2] = {IORING_REGISTER_FILES_SKIP, c};
    __u64 utags[2] = {0, 0};
    if (lib("io_uring_register_files_update_tag", [&] { return io_uring_register_files_update_tag(&ring, 0, upd, utags, 2); }) != 2)
      return;
    tag_cqe();
    ctx.observe(Outcome::ok(ready_within(be, 100), Channel::ret, Phase::completion));
    AlignedBuffer buf(4096);
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
      io_uring_prep_read(s, 0, buf.data(), 4096, 4096);
      s->flags |= IOSQE_FIXED_FILE;
    });
    RawCqe rd = reap(ctx, be, 1)[0];
    ctx.observe(IoUringBackend::res_outcome(rd.res));
    if (rd.res > 0) ctx.check(verify_buffer(buf.data(), rd.res, kFileSeed, 4096).empty(), "slot 0 read data mismatch");
    close(c);
  } else if (mode == "files-skip-tagged") {
    if (lib("io_uring_register_files", [&] { return io_uring_register_files(&ring, &a, 1); }) != 0) return;
    int skip = IORING_REGISTER_FILES_SKIP;
    __u64 tag = 5, none = 0;
    update2(IORING_REGISTER_FILES_UPDATE2, io_uring_rsrc_update2{0, 0, ptr(&skip), ptr(&tag), 1, 0});
    // The controls: the skip without its tag, and the tag on a real file.
    update2(IORING_REGISTER_FILES_UPDATE2, io_uring_rsrc_update2{0, 0, ptr(&skip), ptr(&none), 1, 0});
    update2(IORING_REGISTER_FILES_UPDATE2, io_uring_rsrc_update2{0, 0, ptr(&b), ptr(&tag), 1, 0});
  } else if (mode == "files-empty-slot-tagged") {
    int none = -1;
    __u64 tag = 7;
    files2(io_uring_rsrc_register{1, 0, 0, ptr(&none), ptr(&tag)});
    files2(io_uring_rsrc_register{1, 0, 0, ptr(&none), 0});
  } else if (mode == "buffers-empty-slot-tagged") {
    iovec empty{nullptr, 0};
    __u64 tag = 9;
    io_uring_rsrc_register rr{1, 0, 0, ptr(&empty), ptr(&tag)};
    raw(IORING_REGISTER_BUFFERS2, &rr, sizeof rr, "io_uring_register(BUFFERS2)");
    rr.tags = 0;
    raw(IORING_REGISTER_BUFFERS2, &rr, sizeof rr, "io_uring_register(BUFFERS2)");
  } else if (mode == "register-resv2" || mode == "register-flags" || mode == "register-size") {
    io_uring_rsrc_register rr{1, 0, 0, ptr(&a), 0};
    io_uring_rsrc_register bad = rr;
    unsigned size = sizeof rr;
    if (mode == "register-resv2") bad.resv2 = 1;
    if (mode == "register-flags") bad.flags = 1u << 1;
    if (mode == "register-size") size -= 8;
    files2(bad, size);
    files2(rr);
  } else if (mode == "update-bad-args") {
    if (lib("io_uring_register_files", [&] { return io_uring_register_files(&ring, &a, 1); }) != 0) return;
    const io_uring_rsrc_update2 good{0, 0, ptr(&b), 0, 1, 0};
    io_uring_rsrc_update2 up = good;
    up.resv = 1;
    update2(IORING_REGISTER_FILES_UPDATE2, up);
    up = good;
    up.resv2 = 1;
    update2(IORING_REGISTER_FILES_UPDATE2, up);
    up = good;
    up.nr = 0;
    update2(IORING_REGISTER_FILES_UPDATE2, up);
    update2(IORING_REGISTER_FILES_UPDATE2, good, sizeof(io_uring_rsrc_update2) - 8);
    update2(IORING_REGISTER_FILES_UPDATE2, good);
  } else if (mode == "update-no-table") {
    iovec iov{nullptr, 0};
    update2(IORING_REGISTER_FILES_UPDATE2, io_uring_rsrc_update2{0, 0, ptr(&a), 0, 1, 0});
    update2(IORING_REGISTER_BUFFERS_UPDATE, io_uring_rsrc_update2{0, 0, ptr(&iov), 0, 1, 0});
  } else if (mode == "sparse-tagged") {
    __u64 tags[2] = {0, 3};
    int fds[2] = {a, b};
    files2(io_uring_rsrc_register{2, IORING_RSRC_REGISTER_SPARSE, 0, 0, ptr(tags)});
    files2(io_uring_rsrc_register{2, IORING_RSRC_REGISTER_SPARSE, 0, ptr(fds), 0});
    files2(io_uring_rsrc_register{2, IORING_RSRC_REGISTER_SPARSE, 0, 0, 0});
  } else if (mode == "sparse-update-tag") {
    if (files2(io_uring_rsrc_register{4, IORING_RSRC_REGISTER_SPARSE, 0, 0, 0}) != 0) return;
    __u64 tag = 61;
    if (update2(IORING_REGISTER_FILES_UPDATE2, io_uring_rsrc_update2{2, 0, ptr(&a), ptr(&tag), 1, 0}) != 1) return;
    lib("io_uring_unregister_files", [&] { return io_uring_unregister_files(&ring); });
    tag_cqe();
  } else if (mode == "files-over-nofile") {
    // Soft limit only: this child may raise it back, nothing outside sees it.
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) ctx.broken("getrlimit");
    if (lim.rlim_max < 65) ctx.skip("RLIMIT_NOFILE hard limit below 65");
    const rlim_t old = lim.rlim_cur;
    lim.rlim_cur = 64;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) ctx.broken("setrlimit RLIMIT_NOFILE 64");
    std::vector<int> empty(65, -1);
    files2(io_uring_rsrc_register{65, 0, 0, ptr(empty.data()), 0});
    files2(io_uring_rsrc_register{64, 0, 0, ptr(empty.data()), 0});
    lim.rlim_cur = old;
    setrlimit(RLIMIT_NOFILE, &lim);
  } else if (mode == "buffers-over-max") {
    std::vector<iovec> empty(16385, iovec{nullptr, 0});
    io_uring_rsrc_register rr{16385, 0, 0, ptr(empty.data()), 0};
    raw(IORING_REGISTER_BUFFERS2, &rr, sizeof rr, "io_uring_register(BUFFERS2)");
    rr = io_uring_rsrc_register{16384, IORING_RSRC_REGISTER_SPARSE, 0, 0, 0};
    raw(IORING_REGISTER_BUFFERS2, &rr, sizeof rr, "io_uring_register(BUFFERS2)");
  }
  close(a);
  close(b);
}

}  // namespace
}  // namespace aioh
