// fs.aio-nr accounting of kernel AIO contexts (kernel-aio and libaio): what
// io_setup(2) adds to the system-wide /proc/sys/fs/aio-nr, what io_destroy(2)
// and process exit give back, and the size of the ring the kernel maps for a
// context (fs/aio.c ioctx_alloc() doubles nr_events after raising it to
// 4 x possible CPUs, aio_setup_ring() rounds the ring up to whole pages and
// reports the slots in the ring header's nr, beside the header's constants).
// aio-nr is read from procfs around each call; those rows run alone
// (`exclusive`), since any other context on the machine moves the counter.
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "kaio_util.h"

namespace aioh {
namespace {

using kaio::aio;

long aio_nr() {
  std::ifstream f("/proc/sys/fs/aio-nr");
  long v = -1;
  f >> v;
  return f ? v : -1;
}

// CPUs in /sys/devices/system/cpu/possible ("0-3", "0,2-5"): num_possible_cpus().
long possible_cpus() {
  std::ifstream f("/sys/devices/system/cpu/possible");
  std::string s;
  if (!(f >> s)) return -1;
  long n = 0;
  for (const std::string& part : split_fields(s, ',')) {
    size_t dash = part.find('-');
    n += dash == std::string::npos ? 1 : std::stol(part.substr(dash + 1)) - std::stol(part.substr(0, dash)) + 1;
  }
  return n;
}

// mode:
//  destroy  io_setup(entries): the context, aio-nr's rise; io_destroy: its
//           result, aio-nr's rise left (0).
//  exit     a forked child does io_setup(entries) and exits without
//           io_destroy: the rise the child saw, the rise left after its exit.
//  ring-nr  io_setup(entries): the ring header's nr equals the slots
//           aio_setup_ring() computes (1), from possible CPUs and the page size.
//  ring-header  io_setup(entries): the rest of the header aio_setup_ring()
//           writes, each @setup: magic, compat_features, incompat_features,
//           header_length, head, tail (what libaio's user-space reap checks).
AIOH_SCENARIO(kaio_aio_nr,
              aioh::param::choice("mode", "destroy", {"destroy", "exit", "ring-nr", "ring-header"}, "what gives the events back"),
              aioh::param::integer("entries", 1000, "nr_events of the context", 1, 65536)) {
  AioBackendBase& be = aio(ctx);
  const std::string mode = ctx.str("mode");
  const long nr = ctx.num("entries");
  auto value = [&](int64_t v, Phase p) { ctx.observe(Outcome::ok(v, Channel::ret, p)); };
  const long before = aio_nr();
  if (before < 0) ctx.broken("cannot read fs.aio-nr");

  if (mode == "exit") {
    // No io_destroy in the child: exit_aio() must give the events back.
    long rise = scn::value_in_child<long>([&] {
                  AioContext c = 0;
                  return be.raw_setup(nr, &c).is_error ? -1 : aio_nr() - before;
                }).value_or(-1);
    if (rise < 0) ctx.broken("the child's io_setup failed");
    value(rise, Phase::setup);
    value(aio_nr() - before, Phase::teardown);
    return;
  }
  AioContext c = 0;
  Outcome o = be.raw_setup(nr, &c);
  ctx.observe(o);
  if (o.is_error) return;
  if (mode == "destroy") {
    value(aio_nr() - before, Phase::setup);
    ctx.observe(be.raw_destroy(c));
    value(aio_nr() - before, Phase::teardown);
    return;
  }
  if (mode == "ring-header") {
    const auto* h = reinterpret_cast<const volatile AioRingHeader*>(c);
    for (unsigned v : {h->magic, h->compat_features, h->incompat_features, h->header_length, h->head, h->tail})
      value(v, Phase::setup);
    be.raw_destroy(c);
    return;
  }
  // ring-nr: fs/aio.c ioctx_alloc() + aio_setup_ring().
  const long cpus = possible_cpus();
  const long page = sysconf(_SC_PAGESIZE);
  if (cpus <= 0 || page <= 0) ctx.broken("cannot read possible CPUs / page size");
  const long doubled = std::max(nr, cpus * 4) * 2;
  const long header = static_cast<long>(sizeof(AioRingHeader));
  const long pages = (header + doubled * 32 + page - 1) / page;  // sizeof(struct io_event) = 32
  const long slots = (pages * page - header) / 32;
  const auto* ring = reinterpret_cast<const AioRingHeader*>(c);
  ctx.note("ring nr " + std::to_string(ring->nr) + ", computed " + std::to_string(slots) + " (" +
           std::to_string(cpus) + " possible CPUs)");
  value(static_cast<long>(ring->nr) == slots ? 1 : 0, Phase::setup);
  be.raw_destroy(c);
}

}  // namespace
}  // namespace aioh
