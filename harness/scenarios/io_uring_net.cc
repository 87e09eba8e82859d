// io_uring's socket set-up opcodes on loopback TCP/UDP: IORING_OP_SOCKET
// (5.19), BIND and LISTEN (6.11), ACCEPT and CONNECT, and RECV_ZC's refusal on
// a ring without a zero-copy receive queue (6.15); the CQE features of
// receive and accept: IORING_CQE_F_SOCK_NONEMPTY and IORING_ACCEPT_MULTISHOT
// (5.19), IORING_ACCEPT_DONTWAIT (6.10). Each success is checked for
// its effect with plain syscalls: the socket's type and domain (SO_TYPE,
// SO_DOMAIN), the bound port (getsockname), a listener a plain connect(2)
// reaches, an accepted connection that carries 16 pattern bytes read back
// whole. liburing 2.3 has no prep helpers for BIND/LISTEN/RECV_ZC, so those
// SQEs are filled as io_uring/net.c io_bind_prep() / io_listen_prep() /
// io_recvzc_prep() read them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cstring>

#include "errno_names.h"
#include "pattern.h"
#include "scenarios/io_uring_scenario.h"

namespace aioh {
namespace {

using namespace uring;

constexpr unsigned kRecvMultishot = 1u << 1;  // IORING_RECV_MULTISHOT (sqe->ioprio)
constexpr unsigned kAcceptDontwait = 1u << 1;  // IORING_ACCEPT_DONTWAIT (sqe->ioprio, 6.10)

// A socket closed on every path.
struct Sock {
  int fd = -1;
  Sock() = default;
  explicit Sock(int type) : fd(socket(AF_INET, type | SOCK_CLOEXEC, 0)) {}
  ~Sock() {
    if (fd >= 0) close(fd);
  }
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;
};

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

int sockopt(int fd, int opt) {
  int v = -1;
  socklen_t len = sizeof v;
  return getsockopt(fd, SOL_SOCKET, opt, &v, &len) == 0 ? v : -1;
}

// The address in addr, its length in addr2 (io_bind_prep()).
void prep_bind(io_uring_sqe* s, int fd, const sockaddr_in* a, uint64_t len) {
  io_uring_prep_rw(kOpBind, s, fd, a, 0, len);
}
// The backlog in len (io_listen_prep()).
void prep_listen(io_uring_sqe* s, int fd, unsigned backlog) { io_uring_prep_rw(kOpListen, s, fd, nullptr, backlog, 0); }

// 16 pattern bytes written on `from`, read whole on `to`: 16 when they match.
int64_t carry(int from, int to) {
  uint8_t out[16], in[16] = {};
  fill_pattern(out, sizeof out, kWriteSeed, 0);
  if (send(from, out, sizeof out, MSG_NOSIGNAL) != 16) return -1;
  size_t got = 0;
  while (got < sizeof in) {
    ssize_t n = recv(to, in + got, sizeof in - got, 0);
    if (n <= 0) return -1;
    got += static_cast<size_t>(n);
  }
  return std::memcmp(in, out, sizeof in) == 0 ? 16 : -1;
}

// RLIMIT_NOFILE's soft limit lowered to the lowest free descriptor for this
// case's process only (as uring-rsrc.files-over-nofile does), so the next fd
// anyone asks for gets EMFILE (fs/file.c alloc_fd()); restored on every path.
// The rlimit fault layer arms before a scenario that is not fault_*, which
// would refuse this ring's own setup instead.
struct NoFdSlot {
  rlimit old{};
  bool set = false;
  NoFdSlot() {
    int lowest = dup(STDIN_FILENO);
    if (lowest < 0 || getrlimit(RLIMIT_NOFILE, &old) != 0) return;
    close(lowest);
    rlimit lim{static_cast<rlim_t>(lowest), old.rlim_max};
    set = setrlimit(RLIMIT_NOFILE, &lim) == 0;
  }
  void restore() {
    if (set) setrlimit(RLIMIT_NOFILE, &old);
    set = false;
  }
  ~NoFdSlot() { restore(); }
};

// The TCP state of `fd` (TCP_INFO); for a listener tcpi_unacked is its
// accept queue's length (net/ipv4/tcp.c tcp_get_info()).
tcp_info tcpinfo(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) ti.tcpi_state = 0;
  return ti;
}

// op:
//  socket              SOCKET AF_INET/SOCK_STREAM: res is an fd (1), SO_TYPE, SO_DOMAIN.
//  socket-bad-domain   SOCKET of domain 12345: res.
//  bind-listen-connect BIND 127.0.0.1:0 then LISTEN 4 through the ring, then a plain
//                      connect(2) and accept(2): bind res, a port assigned (1),
//                      listen res, connect(2) 0, the bytes carried (16).
//  bind-in-use         BIND to the port a listening socket holds: res.
//  bind-not-socket     BIND on a regular file: res.
//  bind-len-set        BIND with sqe->len 1: res.
//  bind-addrlen-big    BIND with an address length past sockaddr_storage: res.
//  listen-not-socket   LISTEN on a regular file: res.
//  listen-udp          LISTEN on a UDP socket: res.
//  listen-addr-set     LISTEN with sqe->addr set: res.
//  accept-connect      ACCEPT queued on a plain listener (CQEs within 100 ms: 0), then
//                      CONNECT through the ring: connect res, accept res an fd (1),
//                      the bytes carried over the accepted fd (16).
//  connect-refused     CONNECT to a loopback port nobody listens on: res.
//  accept-not-listening ACCEPT on a bound socket that never listened: res.
//  recv-zc-no-ifq      RECV_ZC (multishot) on a connected socket of a ring with no
//                      zero-copy receive queue registered: res.
//  socket-bad-protocol SOCKET AF_INET/SOCK_STREAM with protocol IPPROTO_UDP: res.
//  accept-not-socket   ACCEPT on a regular file: res.
//  connect-isconn      CONNECT of a socket already connected (plain connect(2)): res.
//  shutdown-not-connected SHUTDOWN(SHUT_RDWR) of a TCP socket never connected: res.
//  shutdown-not-socket SHUTDOWN of a regular file: res.
//  send-after-shutdown SEND (MSG_NOSIGNAL) on a connected socket after shutdown(SHUT_WR): res.
//  socket-emfile       SOCKET with no descriptor slot under RLIMIT_NOFILE: res; the limit
//                      restored, SOCKET again: an fd (1).
//  accept-emfile       a connection queued on a plain listener, ACCEPT with no slot: res;
//                      the limit restored, ACCEPT again: an fd (1) and 16 bytes carried
//                      over it (the refused accept left the connection queued).
//  connect-ealready    a listener of backlog 1 holding two unaccepted connections drops
//                      a third client's SYN (its accept queue is full), so that client's
//                      non-blocking connect(2) (EINPROGRESS) stays in SYN_SENT (checked
//                      with TCP_INFO, else broken); CONNECT of it through the ring: res.
//  recv-connreset      the accepted end closed with SO_LINGER {1, 0} (a RST), poll(2)
//                      until the client sees it; RECV: res; RECV again: res.
//  recv-sock-nonempty  32 pattern bytes queued on the receiver (FIONREAD 32); RECV 16:
//                      res, IORING_CQE_F_SOCK_NONEMPTY (1/0); RECV 16 again: res, the
//                      flag; the 32 bytes read back.
//  accept-multishot    ACCEPT with IORING_ACCEPT_MULTISHOT on a plain listener (a CQE
//                      within 100 ms: its res, and the case ends); three clients
//                      connect: per CQE an fd (1), IORING_CQE_F_MORE (1/0), 16 bytes
//                      carried; then cancelled: the last CQE's res, its MORE, the
//                      cancel's res.
//  accept-dontwait     ACCEPT with IORING_ACCEPT_DONTWAIT, nothing queued: res (a
//                      failure other than EAGAIN ends the case); a client connects
//                      (queued, TCP_INFO), the same ACCEPT: an fd (1), 16 bytes carried.
AIOH_URING_CHOICE_SCENARIO(uring_net, 8, op, "socket", "the socket request and its case",
                           "socket", "socket-bad-domain", "bind-listen-connect", "bind-in-use", "bind-not-socket",
                           "bind-len-set", "bind-addrlen-big", "listen-not-socket", "listen-udp", "listen-addr-set",
                           "accept-connect", "connect-refused", "accept-not-listening", "recv-zc-no-ifq",
                           "socket-bad-protocol", "accept-not-socket", "connect-isconn", "shutdown-not-connected",
                           "shutdown-not-socket", "send-after-shutdown", "socket-emfile", "accept-emfile",
                           "connect-ealready", "recv-connreset", "recv-sock-nonempty", "accept-multishot",
                           "accept-dontwait") {
  auto value = [&](int64_t v) { ctx.observe(Outcome::ok(v, Channel::ret, Phase::completion)); };
  auto run = [&](uint64_t tag, auto prep) {
    submit_one(ctx, be, tag, prep);
    int r = reap(ctx, be, 1)[0].res;
    ctx.observe(IoUringBackend::res_outcome(r));
    return r;
  };
  // A loopback listener of plain syscalls, for the rows whose ring op is the other end.
  auto listener = [&](Sock& l) {
    l.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback(0);
    if (l.fd < 0 || bind(l.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l.fd, 4) != 0)
      ctx.broken("loopback listener: " + errno_name(errno));
  };
  // An ACCEPT's res: an fd (1) and 16 bytes carried to it from `client`, or its errno.
  auto observe_accepted = [&](int res, int client) {
    if (res < 0) {
      ctx.observe(IoUringBackend::res_outcome(res));
    } else {
      value(1);
      value(carry(client, res));
      close(res);
    }
  };
  // `cli` connected by plain syscalls to a new listener `l`: the accepted fd.
  auto accepted = [&](Sock& l, Sock& cli) {
    listener(l);
    sockaddr_in to = loopback(port_of(l.fd));
    if (connect(cli.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) ctx.broken("connect");
    int acc = accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (acc < 0) ctx.broken("accept");
    return acc;
  };

  if (op == "socket" || op == "socket-bad-domain") {
    const int domain = op == "socket" ? AF_INET : 12345;
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_socket(s, domain, SOCK_STREAM, 0, 0); });
    const int r = reap(ctx, be, 1)[0].res;
    if (r < 0) {
      ctx.observe(IoUringBackend::res_outcome(r));
    } else {  // the fd's number is whatever is free: observed as "an fd"
      value(1);
      value(sockopt(r, SO_TYPE));
      value(sockopt(r, SO_DOMAIN));
      close(r);
    }
  } else if (op == "bind-listen-connect") {
    Sock srv(SOCK_STREAM), cli(SOCK_STREAM);
    if (srv.fd < 0 || cli.fd < 0) ctx.broken("socket");
    sockaddr_in a = loopback(0);
    run(1, [&](io_uring_sqe* s) { prep_bind(s, srv.fd, &a, sizeof a); });
    const uint16_t port = port_of(srv.fd);
    value(port != 0 ? 1 : 0);
    run(2, [&](io_uring_sqe* s) { prep_listen(s, srv.fd, 4); });
    sockaddr_in to = loopback(port);
    value(connect(cli.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0 ? 0 : -errno);
    int acc = accept4(srv.fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (acc < 0) ctx.broken("accept after connect: " + errno_name(errno));
    value(carry(cli.fd, acc));
    close(acc);
  } else if (op == "bind-in-use") {
    Sock l, s2(SOCK_STREAM);
    listener(l);
    sockaddr_in a = loopback(port_of(l.fd));
    run(1, [&](io_uring_sqe* s) { prep_bind(s, s2.fd, &a, sizeof a); });
  } else if (op == "bind-not-socket" || op == "listen-not-socket") {
    int fd = ctx.scratch_file("notsock", 4096, O_RDWR | O_CLOEXEC);
    sockaddr_in a = loopback(0);
    if (op == "bind-not-socket")
      run(1, [&](io_uring_sqe* s) { prep_bind(s, fd, &a, sizeof a); });
    else
      run(1, [&](io_uring_sqe* s) { prep_listen(s, fd, 4); });
    close(fd);
  } else if (op == "bind-len-set" || op == "bind-addrlen-big") {
    Sock s2(SOCK_STREAM);
    sockaddr_storage big{};
    const sockaddr_in a = loopback(0);
    std::memcpy(&big, &a, sizeof a);
    const uint64_t len = op == "bind-addrlen-big" ? sizeof(sockaddr_storage) + 1 : sizeof(sockaddr_in);
    run(1, [&](io_uring_sqe* s) {
      prep_bind(s, s2.fd, reinterpret_cast<const sockaddr_in*>(&big), len);
      if (op == "bind-len-set") s->len = 1;
    });
    value(port_of(s2.fd));  // nothing bound: port 0
  } else if (op == "listen-udp") {
    Sock u(SOCK_DGRAM);
    run(1, [&](io_uring_sqe* s) { prep_listen(s, u.fd, 4); });
  } else if (op == "listen-addr-set") {
    Sock s2(SOCK_STREAM);
    sockaddr_in a = loopback(0);
    if (bind(s2.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ctx.broken("bind");
    run(1, [&](io_uring_sqe* s) {
      prep_listen(s, s2.fd, 4);
      s->addr = 1;
    });
  } else if (op == "accept-connect") {
    Sock l, cli(SOCK_STREAM);
    listener(l);
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_accept(s, l.fd, nullptr, nullptr, SOCK_CLOEXEC); });
    value(ready_within(be, 100));
    sockaddr_in to = loopback(port_of(l.fd));
    submit_one(ctx, be, 2, [&](io_uring_sqe* s) {
      io_uring_prep_connect(s, cli.fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
    });
    auto v = reap(ctx, be, 2);
    const RawCqe* acc = find_tag(v, 1);
    const RawCqe* con = find_tag(v, 2);
    if (!acc || !con) ctx.broken("accept/connect CQEs");
    ctx.observe(IoUringBackend::res_outcome(con->res));
    observe_accepted(acc->res, cli.fd);
  } else if (op == "connect-refused") {
    Sock probe(SOCK_STREAM), cli(SOCK_STREAM);
    // A port just bound and released: nobody listens on it.
    sockaddr_in a = loopback(0);
    if (bind(probe.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ctx.broken("bind");
    sockaddr_in to = loopback(port_of(probe.fd));
    close(probe.fd);
    probe.fd = -1;
    run(1, [&](io_uring_sqe* s) { io_uring_prep_connect(s, cli.fd, reinterpret_cast<sockaddr*>(&to), sizeof to); });
  } else if (op == "accept-not-listening") {
    Sock s2(SOCK_STREAM);
    sockaddr_in a = loopback(0);
    if (bind(s2.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ctx.broken("bind");
    run(1, [&](io_uring_sqe* s) { io_uring_prep_accept(s, s2.fd, nullptr, nullptr, 0); });
  } else if (op == "socket-bad-protocol") {
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_socket(s, AF_INET, SOCK_STREAM, IPPROTO_UDP, 0); });
    observe_fd_res(ctx, reap(ctx, be, 1)[0].res);
  } else if (op == "accept-not-socket" || op == "shutdown-not-socket") {
    int fd = ctx.scratch_file("notsock", 4096, O_RDWR | O_CLOEXEC);
    if (op == "accept-not-socket")
      run(1, [&](io_uring_sqe* s) { io_uring_prep_accept(s, fd, nullptr, nullptr, 0); });
    else
      run(1, [&](io_uring_sqe* s) { io_uring_prep_shutdown(s, fd, SHUT_RDWR); });
    close(fd);
  } else if (op == "shutdown-not-connected") {
    Sock s2(SOCK_STREAM);
    run(1, [&](io_uring_sqe* s) { io_uring_prep_shutdown(s, s2.fd, SHUT_RDWR); });
  } else if (op == "connect-isconn" || op == "send-after-shutdown") {
    Sock l, cli(SOCK_STREAM);
    listener(l);
    sockaddr_in to = loopback(port_of(l.fd));
    if (connect(cli.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) ctx.broken("connect");
    if (op == "connect-isconn") {
      run(1, [&](io_uring_sqe* s) { io_uring_prep_connect(s, cli.fd, reinterpret_cast<sockaddr*>(&to), sizeof to); });
    } else {
      if (shutdown(cli.fd, SHUT_WR) != 0) ctx.broken("shutdown");
      uint8_t b[16] = {};
      run(1, [&](io_uring_sqe* s) { io_uring_prep_send(s, cli.fd, b, sizeof b, MSG_NOSIGNAL); });
    }
  } else if (op == "socket-emfile") {
    auto sock = [&] {
      submit_one(ctx, be, 1, [&](io_uring_sqe* s) { io_uring_prep_socket(s, AF_INET, SOCK_STREAM, 0, 0); });
      observe_fd_res(ctx, reap(ctx, be, 1)[0].res);
    };
    NoFdSlot lim;
    if (!lim.set) ctx.broken("cannot lower RLIMIT_NOFILE");
    sock();
    lim.restore();
    sock();
  } else if (op == "accept-emfile") {
    Sock l, cli(SOCK_STREAM);
    listener(l);
    sockaddr_in to = loopback(port_of(l.fd));
    if (connect(cli.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) ctx.broken("connect");
    auto acc = [&](uint64_t tag) {
      submit_one(ctx, be, tag, [&](io_uring_sqe* s) { io_uring_prep_accept(s, l.fd, nullptr, nullptr, SOCK_CLOEXEC); });
      return reap(ctx, be, 1)[0].res;
    };
    NoFdSlot lim;
    if (!lim.set) ctx.broken("cannot lower RLIMIT_NOFILE");
    const int refused = acc(1);
    lim.restore();
    observe_fd_res(ctx, refused);
    observe_accepted(acc(2), cli.fd);
  } else if (op == "connect-ealready") {
    Sock l, a(SOCK_STREAM), b(SOCK_STREAM), c;
    l.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in any = loopback(0);
    if (l.fd < 0 || bind(l.fd, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 || listen(l.fd, 1) != 0)
      ctx.broken("listener");
    sockaddr_in to = loopback(port_of(l.fd));
    for (int fd : {a.fd, b.fd})
      if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) ctx.broken("connect");
    // Both handshakes finished on the listener's side: its queue holds 2 > backlog 1.
    for (int i = 0; i < 1000 && tcpinfo(l.fd).tcpi_unacked < 2; ++i) usleep(1000);
    if (tcpinfo(l.fd).tcpi_unacked < 2) ctx.broken("the listener's accept queue never held 2");
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int rc = connect(c.fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
    ctx.observe(rc == 0 ? Outcome::ok(0, Channel::ret, Phase::setup) : Outcome::error(errno, Channel::errno_, Phase::setup));
    if (tcpinfo(c.fd).tcpi_state != TCP_SYN_SENT) ctx.broken("the third client is not in SYN_SENT: its SYN was answered");
    run(1, [&](io_uring_sqe* s) { io_uring_prep_connect(s, c.fd, reinterpret_cast<sockaddr*>(&to), sizeof to); });
  } else if (op == "recv-connreset") {
    Sock l, cli(SOCK_STREAM);
    const int acc = accepted(l, cli);
    linger lg{1, 0};
    if (setsockopt(acc, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) ctx.broken("SO_LINGER");
    close(acc);  // linger 0: tcp_disconnect() sends a RST, no FIN
    pollfd pfd{cli.fd, POLLIN, 0};
    if (poll(&pfd, 1, 2000) != 1) ctx.broken("the RST did not reach the client within 2 s");
    uint8_t b[16];
    run(1, [&](io_uring_sqe* s) { io_uring_prep_recv(s, cli.fd, b, sizeof b, 0); });
    run(2, [&](io_uring_sqe* s) { io_uring_prep_recv(s, cli.fd, b, sizeof b, 0); });
  } else if (op == "recv-sock-nonempty") {
    Sock l, cli(SOCK_STREAM);
    const int acc = accepted(l, cli);
    uint8_t out[32], in[32] = {};
    fill_pattern(out, sizeof out, kWriteSeed, 0);
    if (send(cli.fd, out, sizeof out, MSG_NOSIGNAL) != 32) ctx.broken("send");
    // All 32 bytes on the receiver's queue before the first RECV.
    int queued = 0;
    for (int i = 0; i < 2000 && queued < 32; ++i) {
      if (ioctl(acc, FIONREAD, &queued) != 0) queued = -1;
      if (queued < 32) usleep(1000);
    }
    if (queued != 32) ctx.broken("the receiver never held 32 bytes");
    for (uint64_t tag : {1, 2}) {
      submit_one(ctx, be, tag, [&](io_uring_sqe* s) { io_uring_prep_recv(s, acc, in + 16 * (tag - 1), 16, 0); });
      const RawCqe c = reap(ctx, be, 1)[0];
      ctx.observe(IoUringBackend::res_outcome(c.res));
      value((c.flags & IORING_CQE_F_SOCK_NONEMPTY) ? 1 : 0);
    }
    ctx.check(std::memcmp(in, out, sizeof in) == 0, "the 32 bytes received differ from those sent");
    close(acc);
  } else if (op == "accept-multishot") {
    Sock l, c[3];
    listener(l);
    submit_one(ctx, be, 1, [&](io_uring_sqe* s) {
      io_uring_prep_multishot_accept(s, l.fd, nullptr, nullptr, SOCK_CLOEXEC);
    });
    if (ready_within(be, 100) != 0) {  // refused at once (a kernel without the flag)
      ctx.observe(IoUringBackend::res_outcome(reap(ctx, be, 1)[0].res));
      return;
    }
    sockaddr_in to = loopback(port_of(l.fd));
    for (Sock& s : c) {
      s.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s.fd < 0 || connect(s.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) ctx.broken("connect");
      const RawCqe a = reap(ctx, be, 1)[0];
      if (a.res < 0) {
        ctx.observe(IoUringBackend::res_outcome(a.res));
      } else {
        value(1);
        value((a.flags & IORING_CQE_F_MORE) ? 1 : 0);
        value(carry(s.fd, a.res));
        close(a.res);
      }
      if (!(a.flags & IORING_CQE_F_MORE)) return;  // the request ended
    }
    submit_one(ctx, be, 2, [](io_uring_sqe* s) { io_uring_prep_cancel64(s, 1, 0); });
    auto v = reap(ctx, be, 2);
    const RawCqe* last = find_tag(v, 1);
    const RawCqe* cancel = find_tag(v, 2);
    if (!last || !cancel) ctx.broken("the accept's last CQE and the cancel's");
    ctx.observe(IoUringBackend::res_outcome(last->res));
    value((last->flags & IORING_CQE_F_MORE) ? 1 : 0);
    ctx.observe(IoUringBackend::res_outcome(cancel->res));
  } else if (op == "accept-dontwait") {
    Sock l, cli(SOCK_STREAM);
    listener(l);
    auto acc = [&](uint64_t tag) {
      submit_one(ctx, be, tag, [&](io_uring_sqe* s) {
        io_uring_prep_accept(s, l.fd, nullptr, nullptr, SOCK_CLOEXEC);
        s->ioprio = kAcceptDontwait;
      });
      return reap(ctx, be, 1)[0].res;
    };
    const int first = acc(1);
    observe_fd_res(ctx, first);
    if (first != -EAGAIN) return;
    sockaddr_in to = loopback(port_of(l.fd));
    if (connect(cli.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) ctx.broken("connect");
    for (int i = 0; i < 1000 && tcpinfo(l.fd).tcpi_unacked < 1; ++i) usleep(1000);
    if (tcpinfo(l.fd).tcpi_unacked < 1) ctx.broken("the connection never reached the accept queue");
    observe_accepted(acc(2), cli.fd);
  } else {  // recv-zc-no-ifq
    Sock l, cli(SOCK_STREAM);
    listener(l);
    sockaddr_in to = loopback(port_of(l.fd));
    if (connect(cli.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) ctx.broken("connect");
    run(1, [&](io_uring_sqe* s) {
      io_uring_prep_rw(kOpRecvZc, s, cli.fd, nullptr, 0, 0);
      s->ioprio = kRecvMultishot;
    });
  }
}

}  // namespace
}  // namespace aioh
