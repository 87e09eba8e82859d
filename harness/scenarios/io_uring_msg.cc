// io_uring's message opcodes on AF_UNIX socket pairs: SENDMSG/RECVMSG (a
// two-segment iovec gathered and scattered, bytes read back; a datagram
// truncated with MSG_TRUNC; a descriptor passed with SCM_RIGHTS), SEND_ZC
// (6.0, loopback TCP: the send's CQE flagged IORING_CQE_F_MORE, then a separate
// notification CQE flagged IORING_CQE_F_NOTIF once the buffer is free), and
// URING_CMD's socket command SOCKET_URING_OP_SIOCINQ (6.7: the bytes queued
// for reading, as ioctl(SIOCINQ)). Each result is cqe->res; data moved is
// verified against the pattern.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstring>

#include "pattern.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

constexpr uint32_t kSocketUringOpSiocinq = 0;  // SOCKET_URING_OP_SIOCINQ (include/uapi/linux/io_uring.h)

// A connected pair: AF_UNIX of `type`, or (tcp) a loopback TCP connection.
struct Pair {
  int fd[2] = {-1, -1};
  Pair(CaseContext& ctx, int type, bool tcp = false) {
    if (!tcp) {
      if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fd) != 0) ctx.broken("socketpair");
      return;
    }
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    fd[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = l >= 0 && fd[0] >= 0 && bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && listen(l, 1) == 0 &&
              getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) == 0 &&
              connect(fd[0], reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (ok) fd[1] = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (l >= 0) close(l);
    if (!ok || fd[1] < 0) ctx.broken("loopback TCP pair");
  }
  ~Pair() {
    for (int f : fd)
      if (f >= 0) close(f);
  }
};

// A one-byte message (at `byte`) with room for one fd in its SCM_RIGHTS
// control data, for sendmsg and recvmsg alike.
struct FdMessage {
  iovec iov;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  explicit FdMessage(char* byte) : iov{byte, 1} {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;
};

// mode:
//  sendmsg-recvmsg  SENDMSG of 10 + 6 bytes, RECVMSG into 4 + 12: both res,
//                   the 16 bytes read back in order (16).
//  recvmsg-trunc    a 16-byte datagram, RECVMSG of 4 bytes with MSG_TRUNC: res
//                   (the datagram's full length), msg_flags has MSG_TRUNC (1).
//  scm-rights       SENDMSG of 1 byte carrying the scratch file's fd; recvmsg(2)
//                   gets a new fd on the same inode (1); SENDMSG res.
//  send-zc          SEND_ZC of 16 bytes on loopback TCP: the send CQE's res and
//                   whether it has F_MORE (1), then the notification CQE: res 0
//                   and F_NOTIF (1); the peer reads the 16 bytes (16).
//  send-zc-unix     SEND_ZC on an AF_UNIX stream socket: the CQE's res.
//  siocinq          16 bytes sent by the peer over loopback TCP, URING_CMD
//                   SOCKET_URING_OP_SIOCINQ: res.
//  siocinq-unix     the same on an AF_UNIX stream pair: res.
AIOH_URING_CHOICE_SCENARIO(uring_msg, 8, mode, "sendmsg-recvmsg", "the message request and its case",
                           "sendmsg-recvmsg", "recvmsg-trunc", "scm-rights", "send-zc", "send-zc-unix", "siocinq",
                           "siocinq-unix") {
  auto value = [&](int64_t v) { ctx.observe(Outcome::ok(v, Channel::ret, Phase::completion)); };
  auto res = [&](int r) { ctx.observe(IoUringBackend::res_outcome(r)); };
  uint8_t out[16], in[16] = {};
  fill_pattern(out, sizeof out, kWriteSeed, 0);

  if (mode == "sendmsg-recvmsg") {
    Pair p(ctx, SOCK_STREAM);
    iovec siov[2] = {{out, 10}, {out + 10, 6}};
    msghdr sm{};
    sm.msg_iov = siov;
    sm.msg_iovlen = 2;
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_sendmsg(s, p.fd[0], &sm, 0); });
    res(reap(ctx, be, 1)[0].res);
    iovec riov[2] = {{in, 4}, {in + 4, 12}};
    msghdr rm{};
    rm.msg_iov = riov;
    rm.msg_iovlen = 2;
    submit_one(ctx, be, 2, [&](io_uring_sqe* s) { io_uring_prep_recvmsg(s, p.fd[1], &rm, MSG_WAITALL); });
    res(reap(ctx, be, 1)[0].res);
    value(std::memcmp(in, out, sizeof in) == 0 ? 16 : -1);
  } else if (mode == "recvmsg-trunc") {
    Pair p(ctx, SOCK_DGRAM);
    if (send(p.fd[0], out, sizeof out, 0) != 16) ctx.broken("send");
    iovec riov = {in, 4};
    msghdr rm{};
    rm.msg_iov = &riov;
    rm.msg_iovlen = 1;
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_recvmsg(s, p.fd[1], &rm, MSG_TRUNC); });
    res(reap(ctx, be, 1)[0].res);
    value((rm.msg_flags & MSG_TRUNC) ? 1 : 0);
  } else if (mode == "scm-rights") {
    Pair p(ctx, SOCK_STREAM);
    int fd = ctx.scratch_file("passed", 4096, O_RDONLY | O_CLOEXEC);
    char byte = 'x';
    FdMessage sent(&byte);
    msghdr& sm = sent.msg;
    cmsghdr* c = CMSG_FIRSTHDR(&sm);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_sendmsg(s, p.fd[0], &sm, 0); });
    res(reap(ctx, be, 1)[0].res);
    char rbyte = 0;
    FdMessage received(&rbyte);
    msghdr& rm = received.msg;
    int got = -1;
    if (recvmsg(p.fd[1], &rm, MSG_CMSG_CLOEXEC) == 1)
      for (cmsghdr* h = CMSG_FIRSTHDR(&rm); h; h = CMSG_NXTHDR(&rm, h))
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) std::memcpy(&got, CMSG_DATA(h), sizeof got);
    struct stat a {}, b {};
    value(got >= 0 && got != fd && fstat(got, &a) == 0 && fstat(fd, &b) == 0 && a.st_ino == b.st_ino &&
                  a.st_dev == b.st_dev
              ? 1
              : 0);
    if (got >= 0) close(got);
    close(fd);
  } else if (mode == "send-zc-unix") {
    Pair p(ctx, SOCK_STREAM);
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_send_zc(s, p.fd[0], out, sizeof out, 0, 0); });
    res(reap(ctx, be, 1)[0].res);
  } else if (mode == "send-zc") {
    Pair p(ctx, SOCK_STREAM, true);
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_send_zc(s, p.fd[0], out, sizeof out, 0, 0); });
    auto v = reap(ctx, be, 2);  // the send, then its notification (same user_data)
    const RawCqe* send_cqe = nullptr;
    const RawCqe* notif = nullptr;
    for (const RawCqe& c : v) (c.flags & IORING_CQE_F_NOTIF ? notif : send_cqe) = &c;
    if (!send_cqe || !notif) ctx.broken("SEND_ZC gave no send/notification CQE pair");
    res(send_cqe->res);
    value((send_cqe->flags & IORING_CQE_F_MORE) ? 1 : 0);
    res(notif->res);
    value((notif->flags & IORING_CQE_F_NOTIF) ? 1 : 0);
    value(recv(p.fd[1], in, sizeof in, MSG_WAITALL) == 16 && std::memcmp(in, out, 16) == 0 ? 16 : -1);
  } else {  // siocinq, siocinq-unix
    Pair p(ctx, SOCK_STREAM, mode == "siocinq");
    if (send(p.fd[1], out, sizeof out, 0) != 16) ctx.broken("send");
    // Loopback TCP delivers within the send; wait until all 16 are queued.
    for (int i = 0; i < 100; ++i) {
      uint8_t peek[16];
      if (recv(p.fd[0], peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT) == 16) break;
      usleep(1000);
    }
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
      io_uring_prep_rw(IORING_OP_URING_CMD, s, p.fd[0], nullptr, 0, 0);
      s->cmd_op = kSocketUringOpSiocinq;
    });
    res(reap(ctx, be, 1)[0].res);
  }
}

}  // namespace
}  // namespace aioh
