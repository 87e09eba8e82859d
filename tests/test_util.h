// Helpers for the GoogleTest suite: temp dirs, writing files, running the
// harness binary and capturing its exit status and output.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

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

}  // namespace aioh::test
