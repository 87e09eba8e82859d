// Helpers for the GoogleTest suite: temp dirs, writing files, case tables
// written from their rows, running the
// harness binary and capturing its exit status and output, a loop device
// over a temp file (root only), and the backend
// tests' common set-up (a file holding the kFileSeed pattern, one read
// submitted and reaped) so each backend test asserts only its convention.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/loop.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backend.h"
#include "pattern.h"

namespace aioh::test {

struct TempDir {
  std::string path;
  TempDir() {
    std::string t = std::filesystem::temp_directory_path().string() + "/aioh-test-XXXXXX";
    path = mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
};

// One [[case]] row of a case table written by a test: the keys it sets.
// id, scenario, expect and source are strings (quoted when written); the
// others are TOML values written as given (`["io_uring"]`, `"all"`, an
// inline table) and left out when empty; interfaces is "all" unless set.
// expect_by, an inline table of expectations per interface, is written
// instead of expect when set.
struct TableRow {
  std::string id{}, scenario{}, interfaces = R"("all")", targets{}, params{}, fault{}, expect{}, expect_by{}, when{};
  int timeout = 0;
  std::string source = "test";
};

inline std::string toml_quoted(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

// The text of a case table file of `area` holding `rows`.
inline std::string case_table(const std::string& area, const std::vector<TableRow>& rows) {
  std::string t = "area = " + toml_quoted(area) + "\n";
  for (const TableRow& r : rows) {
    t += "\n[[case]]\n";
    auto key = [&](const char* k, const std::string& toml) {
      if (!toml.empty()) t += fmt::format("{} = {}\n", k, toml);
    };
    key("id", toml_quoted(r.id));
    key("scenario", toml_quoted(r.scenario));
    key("interfaces", r.interfaces);
    key("targets", r.targets);
    key("params", r.params);
    key("fault", r.fault);
    key("expect", r.expect_by.empty() ? toml_quoted(r.expect) : r.expect_by);
    key("when", r.when);
    if (r.timeout > 0) key("timeout", std::to_string(r.timeout));
    key("source", toml_quoted(r.source));
  }
  return t;
}

struct Run {
  int status = -1;  // exit code
  std::string out;  // stdout and stderr together
};

// Runs a shell command line, capturing `cmd`'s stdout and stderr together; with `stdout_only`, stderr is dropped
// (a document on stdout stays parseable when another run's notice appears).
inline Run run_cmd(const std::string& cmd, bool stdout_only = false) {
  Run r;
  FILE* p = popen((cmd + (stdout_only ? " 2>/dev/null" : " 2>&1")).c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Whether one of `lines` (notes, convention breaches) contains `part`.
inline bool any_contains(const std::vector<std::string>& lines, const std::string& part) {
  for (auto& l : lines)
    if (l.find(part) != std::string::npos) return true;
  return false;
}

inline std::string harness_bin() { return AIOH_HARNESS_BIN; }

// The result records of a --format jsonl output file, in file order.
inline std::vector<nlohmann::json> results_of(const std::string& jsonl) {
  std::vector<nlohmann::json> out;
  std::ifstream in(jsonl);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("type", "") == "result") out.push_back(j);
  }
  return out;
}
inline std::string cases_dir() { return std::string(AIOH_SOURCE_DIR) + "/cases"; }
inline std::string fixture_lib(const std::string& name) {
  return std::filesystem::path(AIOH_HARNESS_BIN).parent_path().string() + "/lib" + name + ".so";
}

// A scratch file holding `size` bytes of the kFileSeed pattern, removed with
// its directory.
struct PatternFile {
  TempDir dir;
  int fd = -1;
  explicit PatternFile(size_t size) {
    fd = open((dir.path + "/data").c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    std::vector<uint8_t> b(size);
    fill_pattern(b.data(), size, kFileSeed, 0);
    EXPECT_EQ(pwrite(fd, b.data(), size, 0), static_cast<ssize_t>(size));
  }
  ~PatternFile() {
    if (fd >= 0) close(fd);
  }
  PatternFile(const PatternFile&) = delete;
  PatternFile& operator=(const PatternFile&) = delete;
};

inline Request read_req(int fd, void* buf, size_t len, int64_t offset, uint64_t tag) {
  return make_request(Op::read, fd, buf, len, offset, tag);
}

// A POLLIN poll of `fd` (a pipe's read end stays pending until fed).
inline Request pollin_req(int fd, uint64_t tag) {
  Request r = make_request(Op::poll, fd, nullptr, 0, 0, tag);
  r.poll_events = POLLIN;
  return r;
}

// One request submitted and reaped (wait for 1, up to max_nr, 5 s): the two
// outcomes and the completions, for the caller to assert on.
struct OneShot {
  Outcome submit, wait;
  std::vector<Completion> out;
};
inline OneShot submit_and_reap(Backend& be, Request& r, unsigned max_nr = 1) {
  OneShot o;
  o.submit = be.submit({&r});
  o.wait = be.wait(1, max_nr, timespec{5, 0}, o.out);
  return o;
}

// A loop device over a file in a temp dir, detached on destruction.
struct Loop {
  test::TempDir d;
  std::string img = d.path + "/disk.img", dev, mnt = d.path + "/mnt";
  int fd = -1;
  bool mounted = false;
  Loop() {
    int bfd = open(img.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (bfd < 0 || ftruncate(bfd, 64 << 20) != 0) return;
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    for (int i = 0; ctl >= 0 && i < 16 && dev.empty(); i++) {
      int n = ioctl(ctl, LOOP_CTL_GET_FREE);
      if (n < 0) break;
      std::string path = fmt::format("/dev/loop{}", n);
      int lfd = open(path.c_str(), O_RDWR | O_CLOEXEC);
      loop_config cfg{};
      cfg.fd = static_cast<uint32_t>(bfd);
      cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
      if (lfd >= 0 && ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
        dev = path;
        fd = lfd;
      } else if (lfd >= 0) {
        close(lfd);
      }
    }
    if (ctl >= 0) close(ctl);
    close(bfd);
  }
  bool mkfs_and_mount() {
    mkdir(mnt.c_str(), 0700);
    if (test::run_cmd("mkfs.ext4 -q -F " + dev).status != 0) return false;
    mounted = mount(dev.c_str(), mnt.c_str(), "ext4", 0, nullptr) == 0;
    return mounted;
  }
  void umount_it() {
    if (mounted) umount2(mnt.c_str(), 0);
    mounted = false;
  }
  ~Loop() {
    umount_it();
    if (fd >= 0) {
      ioctl(fd, LOOP_CLR_FD, 0);
      close(fd);
    }
  }
};

}  // namespace aioh::test
