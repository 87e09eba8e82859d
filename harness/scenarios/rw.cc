// Shared read/write scenarios: one request through any interface, with the
// submit and completion outcomes observed and the data verified. The case
// tables vary the parameters (bad fd, zero length, bad buffer, write-only fd,
// negative offset, unknown opcode, EOF) and say what each interface answers.
#include <fcntl.h>
#include <sys/mman.h>

#include "common.h"
#include "errno_names.h"

namespace aioh {
namespace {

// params: op (read|write|readv|writev), file_size, offset, len, fd
// (file|closed|wronly|rdonly), buf (normal|unmapped: PROT_NONE|kernel|null|
// partial: one page then PROT_NONE|readonly: PROT_READ),
// opcode (raw)
void one_request(CaseContext& ctx) {
  scn::setup_or_broken(ctx);
  std::string op = ctx.str("op");
  bool is_write = op == "write" || op == "writev";
  bool vectored = op == "readv" || op == "writev";
  size_t file_size = ctx.num("file_size");
  int64_t offset = ctx.num("offset");
  size_t len = ctx.num("len");

  std::string fdkind = ctx.str("fd");
  int flags = fdkind == "wronly" ? O_WRONLY : fdkind == "rdonly" ? O_RDONLY : O_RDWR;
  int fd = ctx.scratch_file("data", file_size, flags);
  if (fd < 0) ctx.broken("cannot open the scratch file");
  if (fdkind == "closed") close(fd);  // the number now names no open file

  AlignedBuffer buf(std::max<size_t>(len, 1));
  void* p = buf.data();
  std::string bufkind = ctx.str("buf");
  if (bufkind == "unmapped") {
    // A PROT_NONE reservation rather than an munmap()ed hole: a hole can be
    // reused by the next mapping (glibc's AIO worker stacks land there).
    p = mmap(nullptr, std::max<size_t>(len, 4096), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) ctx.broken("mmap PROT_NONE failed");
  } else if (bufkind == "partial" || bufkind == "readonly") {
    // partial: the first page writable, the rest PROT_NONE, so the copy
    // faults part way; readonly: every page PROT_READ (present but not
    // writable: the first store faults).
    size_t span = (std::max<size_t>(len, 8192) + 4095) & ~size_t{4095};
    p = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) ctx.broken("mmap failed");
    char* from = static_cast<char*>(p) + (bufkind == "partial" ? 4096 : 0);
    if (mprotect(from, span - (from - static_cast<char*>(p)), bufkind == "partial" ? PROT_NONE : PROT_READ) != 0)
      ctx.broken("mprotect failed");
  } else if (bufkind == "kernel") {
    p = reinterpret_cast<void*>(0xffff880000000000ULL);  // above TASK_SIZE: fails access_ok()
  } else if (bufkind == "null") {
    p = nullptr;
  }
  if (is_write && bufkind == "partial") ctx.broken("buf = partial is for reads: a write's bytes would not be ours");
  if (is_write && bufkind == "normal") fill_pattern(p, len, kWriteSeed, offset);

  Request r = scn::rw_request(fd, offset, is_write, vectored, {{p, len}});
  r.raw_opcode = static_cast<int>(ctx.num("opcode"));

  if (scn::submit_observed(ctx, {&r}) < 1) return;
  auto got = scn::reap_observed(ctx, 1);
  if (!got.count(1) || got[1].result.is_error) return;
  // A partial read's bytes are checked as far as it says it got.
  if (bufkind != "normal" && bufkind != "partial") return;
  if (is_write) {
    int64_t n = got[1].result.value;
    std::string bad = verify_file(fd, offset, static_cast<size_t>(n), kWriteSeed);
    ctx.check(bad.empty(), "write reported success but " + bad);
  } else {
    scn::verify_read(ctx, got[1], p, offset);
  }
}

}  // namespace
}  // namespace aioh

AIOH_SCENARIO(rw_one,
              aioh::param::choice("op", "read", {"read", "write", "readv", "writev"}, "the request"),
              aioh::param::integer("file_size", 65536, "bytes of the scratch file", 0, aioh::param::kMaxFileSize),
              aioh::param::integer("offset", 0, "file offset of the request (negative: an invalid one)"),
              aioh::param::integer("len", 4096, "bytes to transfer", 0, aioh::param::kMaxBufferSize),
              aioh::param::choice("fd", "file", {"file", "closed", "wronly", "rdonly"},
                                  "the descriptor: the file read-write, closed, or opened one way only"),
              aioh::param::choice("buf", "normal", {"normal", "unmapped", "kernel", "null", "partial", "readonly"},
                                  "the buffer: ours, PROT_NONE, a kernel address, NULL, one writable page "
                                  "then PROT_NONE (a read only), or PROT_READ"),
              aioh::param::integer("opcode", -1, "a raw opcode in the request instead of op's (-1: op's)", -1, 255)) {
  aioh::one_request(ctx);
}

// A batch of reads at distinct offsets: every completion arrives once, with
// its own tag, its own length and its own bytes.
AIOH_SCENARIO(rw_batch, aioh::param::integer("count", 8, "reads in the batch", 1, 256),
              aioh::param::integer("len", 4096, "bytes per read", 1, aioh::param::kMaxBufferSize)) {
  using namespace aioh;
  scn::setup_or_broken(ctx);
  unsigned n = static_cast<unsigned>(ctx.num("count"));
  size_t len = ctx.num("len");
  int fd = ctx.scratch_file("data", n * len, O_RDWR);
  std::vector<std::unique_ptr<AlignedBuffer>> bufs;
  std::vector<Request> reqs(n);
  std::vector<Request*> ptrs;
  for (unsigned i = 0; i < n; i++) {
    bufs.push_back(std::make_unique<AlignedBuffer>(len));
    reqs[i] = scn::read_req(fd, bufs[i]->data(), len, static_cast<int64_t>(i * len), 100 + i);
    ptrs.push_back(&reqs[i]);
  }
  if (scn::submit_observed(ctx, ptrs) < n) return;
  std::vector<Completion> out;
  Outcome w = ctx.backend().wait(n, n, scn::kReapTimeout, out);
  ctx.observe(w);
  std::map<uint64_t, int> seen;
  for (auto& c : out) {
    seen[c.tag]++;
    if (c.tag < 100 || c.tag >= 100 + n) {
      ctx.check(false, "completion with a tag never submitted: " + std::to_string(c.tag));
      continue;
    }
    unsigned i = static_cast<unsigned>(c.tag - 100);
    ctx.check(!c.result.is_error && c.result.value == static_cast<int64_t>(len),
              "request " + std::to_string(i) + " completed with " + c.result.str());
    scn::verify_read(ctx, c, bufs[i]->data(), reqs[i].offset);
  }
  for (unsigned i = 0; i < n; i++)
    ctx.check(seen[100 + i] == 1, "request " + std::to_string(i) + " completed " + std::to_string(seen[100 + i]) + " times");
}

// Requests at explicit offsets leave the descriptor's file offset alone:
// the fd is first lseek()ed to `start`, then a read at 8192 and a write at
// 16384 (4096 bytes each, verified) run; lseek(fd, 0, SEEK_CUR) must still
// answer `start`. An implementation that seeks and then read()s / write()s
// (instead of pread/pwrite, or ki_pos from the request) leaves 12288 or 20480.
AIOH_SCENARIO(rw_offset_kept,
              aioh::param::boolean("vectored", false, "readv/writev (two segments) instead of read/write"),
              aioh::param::integer("start", 1000, "the file offset set before the requests", 0, 65536)) {
  using namespace aioh;
  scn::setup_or_broken(ctx);
  const bool vectored = ctx.flag("vectored");
  const int64_t start = ctx.num("start");
  int fd = ctx.scratch_file("data", 65536, O_RDWR);
  if (fd < 0) ctx.broken("cannot open the scratch file");
  if (lseek(fd, start, SEEK_SET) != start) ctx.broken(std::string("lseek: ") + errno_name(errno));
  auto position = [&] { return static_cast<int64_t>(lseek(fd, 0, SEEK_CUR)); };
  AlignedBuffer rbuf(4096), wbuf(4096);
  auto segs = [&](AlignedBuffer& b) {
    return vectored ? std::vector<iovec>{{b.data(), 1024}, {b.data() + 1024, 3072}}
                    : std::vector<iovec>{{b.data(), 4096}};
  };
  Request rd = scn::rw_request(fd, 8192, false, vectored, segs(rbuf));
  if (scn::submit_observed(ctx, {&rd}) < 1) return;
  auto got = scn::reap_observed(ctx, 1);
  if (!got.count(1)) return;
  scn::verify_read(ctx, got[1], rbuf.data(), 8192);
  const int64_t after_read = position();
  ctx.check(after_read == start, "the read moved the file offset from " + std::to_string(start) + " to " +
                                     std::to_string(after_read));
  fill_pattern(wbuf.data(), 4096, kWriteSeed, 16384);
  Request wr = scn::rw_request(fd, 16384, true, vectored, segs(wbuf));
  wr.tag = 2;
  if (scn::submit_observed(ctx, {&wr}) < 1) return;
  got = scn::reap_observed(ctx, 1);
  if (!got.count(2)) return;
  if (!got[2].result.is_error) {
    std::string bad = verify_file(fd, 16384, static_cast<size_t>(got[2].result.value), kWriteSeed);
    ctx.check(bad.empty(), "write reported success but " + bad);
  }
  ctx.observe(Outcome::ok(position(), Channel::ret, Phase::teardown));
}

// fsync / fdatasync of a file just written: both succeed with 0.
AIOH_SCENARIO(rw_sync, aioh::param::choice("op", "fsync", {"fsync", "fdatasync"}, "the sync"),
              aioh::param::boolean("closed", false, "close the descriptor before submitting")) {
  using namespace aioh;
  scn::setup_or_broken(ctx);
  int fd = ctx.scratch_file("data", 8192, O_RDWR);
  if (ctx.flag("closed")) close(fd);
  Request r;
  r.tag = 1;
  r.fd = fd;
  r.op = ctx.str("op") == "fdatasync" ? Op::fdatasync : Op::fsync;
  if (scn::submit_observed(ctx, {&r}) < 1) return;
  scn::reap_observed(ctx, 1);
}

// A 16-byte read of an empty pipe whose read end is O_NONBLOCK. An interface
// that answers at once (EAGAIN from pipe_read()) is observed so; one that
// parks the read instead shows no completion within 200 ms (0@wait), then
// completes with the 16 pattern bytes written afterwards (verified).
AIOH_SCENARIO(rw_pipe_nonblock, aioh::param::none) {
  using namespace aioh;
  scn::setup_or_broken(ctx);
  scn::Pipe p;
  if (p.rd < 0 || fcntl(p.rd, F_SETFL, O_NONBLOCK) != 0) ctx.broken("an O_NONBLOCK pipe");
  AlignedBuffer buf(16);
  Request r = scn::read_req(p.rd, buf.data(), 16, 0, 1);
  if (scn::submit_observed(ctx, {&r}) < 1) return;
  std::vector<Completion> out;
  ctx.backend().wait(1, 1, timespec{0, 200 * 1000 * 1000}, out);
  if (!out.empty()) {
    ctx.observe(out[0].result);
    return;
  }
  ctx.observe(Outcome::ok(0, Channel::ret, Phase::wait));
  uint8_t data[16];
  fill_pattern(data, sizeof data, kFileSeed, 0);
  if (write(p.wr, data, sizeof data) != 16) ctx.broken("pipe write");
  auto got = scn::reap_observed(ctx, 1);
  if (got.count(1)) scn::verify_read(ctx, got[1], buf.data(), 0);
}
