// The output streams of one run and their checked writes (see outputs.h).
#include "outputs.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "errno_names.h"

namespace aioh {
namespace {

bool known_format(std::string_view f) { return std::find(std::begin(kFormats), std::end(kFormats), f) != std::end(kFormats); }

// "EFBIG (File too large)": the name the tables use, and what it means.
std::string errno_text(int e) { return fmt::format("{} ({})", errno_name(e), strerror(e)); }

std::string format_list() {
  std::string s;
  for (auto f : kFormats) s += (s.empty() ? "" : ", ") + std::string(f);
  return s;
}

}  // namespace

std::string parse_output_specs(const std::vector<std::string>& values, const std::string& format,
                               std::vector<OutputSpec>* specs) {
  for (auto& v : values) {
    OutputSpec s;
    auto colon = v.find(':');
    if (colon != std::string::npos && known_format(v.substr(0, colon))) {
      s.format = v.substr(0, colon);
      s.path = v.substr(colon + 1);
      s.named = true;
    } else {
      s.format = format;
      s.path = v;
    }
    if (v.empty()) return "--output needs a file name ([FORMAT:]FILE)";
    if (s.path.empty()) return fmt::format("--output {} needs a file name after the format", v);
    if (!known_format(s.format)) return fmt::format("unknown format '{}' ({})", s.format, format_list());
    for (auto& o : *specs)
      if (o.path == s.path) return fmt::format("--output {} is named twice", s.path);
    specs->push_back(std::move(s));
  }
  return "";
}

bool all_name_their_format(const std::vector<OutputSpec>& specs) {
  return std::all_of(specs.begin(), specs.end(), [](const OutputSpec& s) { return s.named; });
}

OutputStreams::OutputStreams() {
  // (Each case's child resets every disposition to the default.)
  signal(SIGXFSZ, SIG_IGN);
}

OutputStreams::~OutputStreams() {
  for (auto& o : outs_) {
    if (o->file) fclose(o->file);
    if (o->owned && o->fd >= 0) ::close(o->fd);
  }
}

ssize_t OutputStreams::write_fd(void* cookie, const char* buf, size_t size) {
  auto* o = static_cast<Out*>(cookie);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(o->fd, buf + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!o->write_errno) o->write_errno = n < 0 ? errno : EIO;
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(size);
}

std::string OutputStreams::add(const std::string& name, int fd, bool owned, const MakeWriter& make) {
  auto o = std::make_unique<Out>();
  o->name = name;
  o->fd = fd;
  o->owned = owned;
  cookie_io_functions_t io{nullptr, &OutputStreams::write_fd, nullptr, nullptr};
  o->file = fopencookie(o.get(), "w", io);
  if (!o->file) {
    int e = errno;
    if (owned) {
      ::close(fd);
      unlink(name.c_str());
    }
    errno = e;
    return fmt::format("cannot open {}: {}", name, errno_text(errno));
  }
  o->writer = make(o->file);
  outs_.push_back(std::move(o));
  return "";
}

std::string OutputStreams::add_stream(const std::string& name, int fd, const MakeWriter& make) {
  // What was printed through stdio before stays before what the writer prints.
  fflush(stdout);
  fflush(stderr);
  return add(name, fd, false, make);
}

std::string OutputStreams::add_file(const OutputSpec& spec, const MakeWriter& make) {
  int fd = ::open(spec.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    return e == EEXIST ? fmt::format("{} exists; a result is never overwritten", spec.path)
                       : fmt::format("cannot create {}: {}", spec.path, errno_text(e));
  }
  const std::string format = spec.format;
  if (make) return add(spec.path, fd, true, make);
  return add(spec.path, fd, true, [format](FILE* f) { return make_writer(format, f, false); });
}

void OutputStreams::check(Out& o, int err) {
  if (!o.error.empty()) return;
  if (err == 0 && fflush(o.file) != 0) err = o.write_errno ? o.write_errno : EIO;
  if (err == 0 && (ferror(o.file) || o.write_errno)) err = o.write_errno ? o.write_errno : EIO;
  if (err != 0) o.error = fmt::format("cannot write {}: {}", o.name, errno_text(err));
}

// Calls every writer that has not failed, then checks its stream. A writer
// that throws (fmt reports a short fwrite as a std::system_error) has failed.
template <typename F>
void OutputStreams::each(F call) {
  for (auto& o : outs_) {
    if (!o->error.empty()) continue;
    int err = 0;
    try {
      call(*o->writer);
    } catch (const std::system_error&) {
      err = o->write_errno ? o->write_errno : EIO;
    }
    check(*o, err);
  }
}

void OutputStreams::begin(const RunInfo& run, const Environment& env) {
  each([&](Writer& w) { w.begin(run, env); });
}

void OutputStreams::result(const Result& r) {
  each([&](Writer& w) { w.result(r); });
}

void OutputStreams::end(const RunInfo& run, const Summary& s) {
  each([&](Writer& w) { w.end(run, s); });
}

std::vector<std::string> OutputStreams::close() {
  std::vector<std::string> errors;
  for (auto& o : outs_) {
    check(*o, 0);
    // fclose flushes (a failure there is the write's) and frees the cookie stream; the fd
    // stays ours to check and close.
    if (fclose(o->file) != 0 && o->error.empty())
      o->error = fmt::format("cannot write {}: {}", o->name, errno_text(o->write_errno ? o->write_errno : EIO));
    o->file = nullptr;
    if (o->owned) {
      // fsync: a delayed-allocation filesystem may report ENOSPC only here.
      if (o->error.empty() && fsync(o->fd) != 0 && errno != EINVAL && errno != EROFS)
        o->error = fmt::format("cannot write {}: {}", o->name, errno_text(errno));
      if (::close(o->fd) != 0 && o->error.empty()) o->error = fmt::format("cannot close {}: {}", o->name, errno_text(errno));
      o->fd = -1;
    }
    if (!o->error.empty()) errors.push_back(o->error);
  }
  return errors;
}

void OutputStreams::remove_files() {
  for (auto& o : outs_) {
    if (!o->owned) continue;
    if (o->file) fclose(o->file);
    o->file = nullptr;
    if (o->fd >= 0) ::close(o->fd);
    o->fd = -1;
    unlink(o->name.c_str());
  }
  std::erase_if(outs_, [](const std::unique_ptr<Out>& o) { return o->owned; });
}

std::vector<std::string> OutputStreams::paths() const {
  std::vector<std::string> p;
  for (auto& o : outs_)
    if (o->owned) p.push_back(o->name);
  return p;
}

}  // namespace aioh
