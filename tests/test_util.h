// Helpers for the GoogleTest suite: temp dirs, writing files, running the
// harness binary and capturing its exit status and output, and the backend
// tests' common set-up (a file holding the kFileSeed pattern, one read
// submitted and reaped) so each backend test asserts only its convention.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

struct Run {
  int status = -1;  // exit code
  std::string out;  // stdout and stderr together
};

// Runs a shell command line, capturing output.
inline Run run_cmd(const std::string& cmd) {
  Run r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::string harness_bin() { return AIOH_HARNESS_BIN; }
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
  Request r;
  r.op = Op::read;
  r.fd = fd;
  r.buf = buf;
  r.len = len;
  r.offset = offset;
  r.tag = tag;
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

}  // namespace aioh::test
