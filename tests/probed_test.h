// A test suite over one probe of this machine: the probe runs once per suite
// (it forks, sets up rings and contexts, and takes a second or two), and a
// fact the probe could not decide fails the test that reads it.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "probe.h"
#include "test_util.h"

namespace aioh::test {

class ProbedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    env_ = new Environment(probe_environment(dir_->path));
  }
  static void TearDownTestSuite() {
    delete env_;
    delete dir_;
    env_ = nullptr;
    dir_ = nullptr;
  }
  // The fact's value; a fact the probe could not decide fails the test.
  static bool fact(const std::string& name) {
    auto it = env_->facts.find(name);
    auto why = env_->info.find(name + "_reason");
    EXPECT_NE(it, env_->facts.end()) << name << " undecided: " << (why == env_->info.end() ? "?" : why->second);
    return env_->flag(name);
  }
  static inline TempDir* dir_ = nullptr;
  static inline Environment* env_ = nullptr;
};

}  // namespace aioh::test
