// Kernel behaviour facts (see probe_kernel.h). Every fact is one round trip
// on a throwaway ring or file, run in a forked child with a deadline (a
// seccomp policy may answer with SIGSYS, a probe may block). A fact the round
// trip could not decide is left absent, with "<fact>_reason" in env.info, so a
// row that requires it skips naming the cause instead of guessing.
#include "probe_kernel.h"

#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "errno_names.h"
#include "probe_aio.h"
#include "probe_uring.h"
#include "rwf_compat.h"
#include "scenarios/thread_state.h"
#include "system/child.h"
#include "timespec.h"

namespace aioh {
namespace {

using json = nlohmann::json;

// Runs fn in a forked child (system/child.h); a child that outlives
// `deadline_ms` is killed (a probe that blocks must not hold up the run).
json in_child_bounded(const std::function<json()>& fn, int deadline_ms) {
  auto c = system::run_in_child([&] { return fn().dump(); }, deadline_ms);
  if (!c.error.empty()) return json{{"error", c.error}};
  if (c.timed_out) return json{{"error", fmt::format("probe child still running after {} ms", deadline_ms)}};
  if (c.signal) return json{{"error", fmt::format("probe child killed by signal {}", c.signal)}};
  try {
    return json::parse(c.out);
  } catch (...) {
    return json{{"error", "probe child wrote no result"}};
  }
}

// The CQE of the one SQE just prepared, or -ETIME when none came within ms.
int submit_and_reap(io_uring& ring, int ms) {
  if (int r = io_uring_submit(&ring); r != 1) return r < 0 ? r : -EIO;
  auto ts = ms_to_timespec<__kernel_timespec>(ms);
  io_uring_cqe* cqe = nullptr;
  if (int r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts); r < 0) return r;
  int res = cqe->res;
  io_uring_cqe_seen(&ring, cqe);
  return res;
}

// A four-entry ring made with `flags` for `ask`, torn down after it:
// ask's answer, or undecided when no ring could be made (`setup` names the call).
json on_ring(const std::function<json(io_uring&)>& ask, unsigned flags = 0,
             const std::string& setup = "io_uring_queue_init") {
  io_uring ring{};
  if (int r = io_uring_queue_init(4, &ring, flags); r < 0) return undecided(setup + " " + errno_name(-r));
  json answer = ask(ring);
  io_uring_queue_exit(&ring);
  return answer;
}

// One kernel answer `r` as the fact: `yes` or `no`, else undecided with
// `what` and the answer's errno name.
json decide(int r, int yes, int no, const std::string& what) {
  if (r == yes) return yes_no(true);
  if (r == no) return yes_no(false);
  return undecided(what + errno_name(-r));
}

// IORING_OP_ASYNC_CANCEL with `flags` on a ring with nothing to cancel:
// io_uring/cancel.c io_async_cancel_prep() refuses unknown flags with
// -EINVAL; an understood cancel of nothing answers -ENOENT (0 with ALL/ANY).
json cancel_flag(unsigned flags) {
  return on_ring([&](io_uring& ring) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);  // FD key: a real file, or EBADF hides the answer
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (flags & IORING_ASYNC_CANCEL_FD)
      io_uring_prep_cancel_fd(s, fd, flags);
    else
      io_uring_prep_cancel64(s, 12345, static_cast<int>(flags));
    int res = submit_and_reap(ring, 1000);
    if (fd >= 0) close(fd);
    return decide(res == 0 ? -ENOENT : res, -ENOENT, -EINVAL, "a cancel of nothing answered ");
  });
}

// IORING_REGISTER_SYNC_CANCEL (io_uring/cancel.c io_sync_cancel(), 6.0) of
// nothing: -ENOENT; an unknown register opcode is -EINVAL.
json sync_cancel() {
  return on_ring([](io_uring& ring) {
    io_uring_sync_cancel_reg reg{};
    reg.addr = 12345;
    reg.fd = -1;
    reg.timeout = {-1, -1};
    return decide(io_uring_register_sync_cancel(&ring, &reg), -ENOENT, -EINVAL, "a sync cancel of nothing answered ");
  });
}

// IORING_SETUP_ATTACH_WQ (5.6) needs a partner ring in wq_fd, so it is not
// in the single-flag setup sweep of probe.cc.
json attach_wq() {
  io_uring_params a{};
  int afd = static_cast<int>(syscall(__NR_io_uring_setup, 4, &a));
  if (afd < 0) return undecided("io_uring_setup " + errno_name(errno));
  io_uring_params b{};
  b.flags = IORING_SETUP_ATTACH_WQ;
  b.wq_fd = static_cast<__u32>(afd);
  int bfd = static_cast<int>(syscall(__NR_io_uring_setup, 4, &b));
  int err = errno;
  close(afd);
  if (bfd >= 0) {
    close(bfd);
    return yes_no(true);
  }
  if (err == EINVAL) return yes_no(false);
  return undecided("io_uring_setup(ATTACH_WQ) " + errno_name(err));
}

// IORING_REGISTER_FILES2 with IORING_RSRC_REGISTER_SPARSE (5.19): kernels
// before it refuse the non-zero flags word (then `resv`) with -EINVAL.
json files_sparse() {
  return on_ring([](io_uring& ring) {
    return decide(io_uring_register_files_sparse(&ring, 4), 0, -EINVAL, "io_uring_register_files_sparse ");
  });
}

// The 1 GiB limit of a registered buffer (io_uring/rsrc.c
// io_validate_user_buf_range(): iov_len > SZ_1G -> -EFAULT), removed by
// "io_uring/rsrc: remove registered buffer 1GB limit" (2026), which leaves
// only io_pin_pages()' INT_MAX pages (-EOVERFLOW). A length of INT_MAX + 1
// pages at an unmapped user address pins nothing either way: -EFAULT where
// the limit holds, another refusal where it is gone. (A wrapping address cannot
// tell them apart: it is refused with -EFAULT before the length matters on
// kernels that check the range first, the 7.x error behind
// uring-register.register-buffer-over-1g.)
json buffer_1g_limit() {
  return on_ring([](io_uring& ring) {
    const size_t len = (size_t{1} << 31) * 4096;  // INT_MAX + 1 pages of 4 KiB
    iovec iov{reinterpret_cast<void*>(uintptr_t{1} << 32), len};
    int r = io_uring_register_buffers(&ring, &iov, 1);
    // The 1 GiB check comes first wherever it exists (io_buffer_validate() /
    // io_validate_user_buf_range() before any pinning), so any other refusal
    // (EOVERFLOW from io_pin_pages(), EINVAL on 7.3) means it is gone.
    if (r == -EFAULT) return yes_no(true);
    if (r < 0) return yes_no(false);
    return undecided("registering an unmapped 8 TiB buffer answered " + std::to_string(r));
  });
}

// IORING_OP_NOP on an IORING_SETUP_IOPOLL ring: io_nop() of the 5.15-era
// io_uring refused it with -EINVAL; io_uring/nop.c completes it.
json iopoll_nop() {
  return on_ring(
      [](io_uring& ring) {
        io_uring_prep_nop(io_uring_get_sqe(&ring));
        return decide(submit_and_reap(ring, 1000), 0, -EINVAL, "NOP on an IOPOLL ring answered ");
      },
      IORING_SETUP_IOPOLL, "io_uring_queue_init(IOPOLL)");
}

// IORING_OP_TIMEOUT with tv_sec = -1: io_uring/timeout.c __io_timeout_prep()
// answers -EINVAL; without that check the negative time becomes KTIME_MAX
// and the timeout never fires (no CQE within the wait). Tearing the ring
// down cancels a timeout that never fires.
json timeout_negative() {
  return on_ring([](io_uring& ring) {
    __kernel_timespec ts{-1, 0};
    io_uring_prep_timeout(io_uring_get_sqe(&ring), &ts, 0, 0);
    return decide(submit_and_reap(ring, 300), -EINVAL, -ETIME, "a TIMEOUT of -1 s answered ");
  });
}

json probe_uring_behaviour() {
  json j;
  j["io_uring.cancel.fd"] = cancel_flag(IORING_ASYNC_CANCEL_FD);
  j["io_uring.cancel.all"] = cancel_flag(IORING_ASYNC_CANCEL_ALL);
  j["io_uring.cancel.any"] = cancel_flag(IORING_ASYNC_CANCEL_ANY);
  j["io_uring.register.sync_cancel"] = sync_cancel();
  j["io_uring.register.files_sparse"] = files_sparse();
  j["io_uring.register.buffer_1g_limit"] = buffer_1g_limit();
  j["io_uring.setup.ATTACH_WQ"] = attach_wq();
  j["io_uring.iopoll.nop"] = iopoll_nop();
  j["io_uring.timeout.negative_einval"] = timeout_negative();
  return j;
}

// The known defect behind uring-cancel.*running-in-io-wq: an IORING_OP_OPENAT
// of a FIFO blocked in fifo_open() inside io-wq, cancelled (-EALREADY, the
// worker is signalled), completes with the kernel-internal -ERESTARTSYS
// (512) on some kernels and -EINTR on others. True where it leaks.
json probe_cancel_restartsys(const std::string& fifo) {
  io_uring ring{};
  if (int r = io_uring_queue_init(4, &ring, 0); r < 0) return undecided("io_uring_queue_init " + errno_name(-r));
  json out;
  io_uring_sqe* s = io_uring_get_sqe(&ring);
  io_uring_prep_openat(s, AT_FDCWD, fifo.c_str(), O_WRONLY | O_CLOEXEC, 0);
  s->flags |= IOSQE_ASYNC;
  io_uring_sqe_set_data64(s, 1);
  if (io_uring_submit(&ring) != 1) {
    io_uring_queue_exit(&ring);
    return undecided("submitting the OPENAT failed");
  }
  int open_res = 1, cancel_res = 1;
  if (!io_wq_worker_asleep()) {
    out = undecided("the OPENAT of a FIFO never blocked in an io-wq worker");
  } else {
    io_uring_sqe* c = io_uring_get_sqe(&ring);
    io_uring_prep_cancel64(c, 1, 0);
    io_uring_sqe_set_data64(c, 2);
    io_uring_submit(&ring);
    for (int i = 0; i < 2; ++i) {
      __kernel_timespec ts{1, 0};
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) != 0) break;
      (cqe->user_data == 1 ? open_res : cancel_res) = cqe->res;
      io_uring_cqe_seen(&ring, cqe);
    }
    if (cancel_res != -EALREADY)
      out = undecided("the cancel of the blocked OPENAT answered " +
                      (cancel_res <= 0 ? errno_name(-cancel_res) : std::string("nothing")) + ", not EALREADY");
    else if (open_res == 1)
      out = undecided("the cancelled OPENAT did not complete within 1 s");
    else
      out = yes_no(open_res == -512);  // ERESTARTSYS, include/linux/errno.h
  }
  if (open_res >= 0 && open_res != 1) close(open_res);
  // A reader lets an OPENAT still blocked finish so the ring can go away.
  int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  io_uring_queue_exit(&ring);
  if (reader >= 0) close(reader);
  return out;
}

// A one-byte preadv2(RWF_NOWAIT) of ends[0] once ends[1] wrote the byte:
// whether the file type takes RWF_NOWAIT (EOPNOTSUPP where it does not).
// Closes both ends.
json nowait_read_of(const int ends[2], const std::string& what) {
  char byte = 'x', got = 0;
  iovec in{&got, 1};
  (void)!write(ends[1], &byte, 1);
  ssize_t r = preadv2(ends[0], &in, 1, -1, RWF_NOWAIT);
  int err = errno;
  close(ends[0]);
  close(ends[1]);
  if (r == 1) return yes_no(got == byte);
  return err == EOPNOTSUPP ? yes_no(false) : undecided("preadv2(" + what + ", RWF_NOWAIT) " + errno_name(err));
}

// preadv2/pwritev2 with RWF_NOWAIT on a pipe and a socket: fs/read_write.c
// -> include/linux/fs.h kiocb_set_rw_flags() answers -EOPNOTSUPP for a file
// without FMODE_NOWAIT, the same check io_submit(2) runs on an iocb's
// aio_rw_flags. RWF_NOAPPEND (6.9) is outside RWF_SUPPORTED before it.
json probe_rwf(const std::string& scratch) {
  json j;
  char byte = 'x';
  iovec outv{&byte, 1};
  int p[2];
  j["rwf.nowait.pipe"] = pipe2(p, O_CLOEXEC) == 0 ? nowait_read_of(p, "pipe") : undecided("pipe2 " + errno_name(errno));
  int sv[2];
  j["rwf.nowait.socket"] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0
                               ? nowait_read_of(sv, "socket")
                               : undecided("socketpair " + errno_name(errno));
  // RWF_NOAPPEND on an O_APPEND file: the byte lands at offset 0 of a
  // 2-byte file (the size stays 2), read back to be sure.
  std::string path = scratch + "/.probe-noappend";
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
  if (fd >= 0 && write(fd, "ab", 2) == 2) {
    ssize_t r = pwritev2(fd, &outv, 1, 0, RWF_NOAPPEND);
    int err = errno;
    struct stat st {};
    fstat(fd, &st);
    char first = 0;
    (void)!pread(fd, &first, 1, 0);
    j["rwf.noappend"] = r == 1 ? yes_no(st.st_size == 2 && first == byte)
                        : err == EOPNOTSUPP ? yes_no(false)
                                            : undecided("pwritev2(RWF_NOAPPEND) " + errno_name(err));
  } else {
    j["rwf.noappend"] = undecided("cannot create " + path + ": " + errno_name(errno));
  }
  if (fd >= 0) close(fd);
  unlink(path.c_str());
  return j;
}

void absorb(Environment& env, const json& answers, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (answers.contains("error")) {
      env.info[name + "_reason"] = answers["error"].get<std::string>();
      continue;
    }
    const json& a = answers.value(name, json{{"why", "not measured"}});
    if (a.contains("v")) env.facts[name] = a["v"].get<bool>();
    else env.info[name + "_reason"] = a.value("why", "not measured");
  }
}

const std::vector<std::string> kUringFacts = {
    "io_uring.cancel.fd", "io_uring.cancel.all", "io_uring.cancel.any",
    "io_uring.register.sync_cancel", "io_uring.register.files_sparse",
    "io_uring.register.buffer_1g_limit", "io_uring.setup.ATTACH_WQ",
    "io_uring.iopoll.nop", "io_uring.timeout.negative_einval"};
const std::vector<std::string> kRwfFacts = {"rwf.nowait.pipe", "rwf.nowait.socket", "rwf.noappend"};
constexpr const char* kRestartsys = "io_uring.cancel.running_leaks_erestartsys";

}  // namespace

void probe_kernel_behaviour(Environment& env, const std::string& scratch) {
  env.facts["sysctl.kernel.io_uring_disabled"] = access("/proc/sys/kernel/io_uring_disabled", R_OK) == 0;
  absorb(env, in_child_bounded([&] { return probe_rwf(scratch); }, 5000), kRwfFacts);
  probe_aio_behaviour(env, scratch);  // probe_aio.cc: kernel-AIO, POSIX AIO and O_DIRECT facts
  if (!env.flag("io_uring")) {
    for (const auto& n : kUringFacts) env.info[n + "_reason"] = "io_uring unavailable";
    env.info[std::string(kRestartsys) + "_reason"] = "io_uring unavailable";
    return;
  }
  absorb(env, in_child_bounded(probe_uring_behaviour, 10000), kUringFacts);
  probe_uring_facts(env, in_child_bounded, absorb);  // probe_uring.cc
  if (!env.flag("io_uring.op.OPENAT") || !env.flag("io_uring.op.ASYNC_CANCEL")) {
    env.info[std::string(kRestartsys) + "_reason"] = "needs io_uring.op.OPENAT and io_uring.op.ASYNC_CANCEL";
    return;
  }
  std::string fifo = fmt::format("{}/.probe-fifo-{}", scratch, getpid());
  if (mkfifo(fifo.c_str(), 0600) != 0) {
    env.info[std::string(kRestartsys) + "_reason"] = "mkfifo " + errno_name(errno);
    return;
  }
  // Up to three tries: under load the OPENAT may not reach an io-wq worker in time.
  json r;
  for (int attempt = 0; attempt < 3; ++attempt) {
    r = in_child_bounded([&] { return json{{kRestartsys, probe_cancel_restartsys(fifo)}}; }, 8000);
    if (r.contains(kRestartsys) && r[kRestartsys].contains("v")) break;
  }
  unlink(fifo.c_str());
  absorb(env, r, {kRestartsys});
}

bool is_kernel_behaviour_fact(const std::string& name) {
  if (is_uring_probe_fact(name)) return true;
  for (const auto* list : {&kUringFacts, &kRwfFacts})
    for (const auto& n : *list)
      if (name == n) return true;
  return name == kRestartsys || name == "sysctl.kernel.io_uring_disabled" || is_aio_fact(name);
}

bool io_wq_worker_asleep() {
  for (int i = 0; i < 2000; ++i) {
    if (threads::named_thread_state("iou-wrk-") == 'S') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

}  // namespace aioh
