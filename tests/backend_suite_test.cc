// One suite of the backend contract, run against every registered interface
// (the registry's list, so a new adapter is covered without an edit here):
// the backend reports its registered name, a default setup works, a read
// completes at completion with its length, its tag and the file's bytes, a
// write reads back, and a bad fd is EBADF at submit or at completion — never
// a success. Where each interface puts those values (errno, return, io_event,
// aio_return, cqe) is each adapter's own test file. Availability comes from
// the probe's independent round trips, never from the setup under test.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "backend.h"
#include "pattern.h"
#include "probe.h"
#include "test_util.h"

namespace aioh {
namespace {

class BackendSuite : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new test::TempDir;
    env_ = new Environment(probe_environment(scratch_->path));
  }
  static void TearDownTestSuite() {
    delete env_;
    delete scratch_;
  }

  void SetUp() override {
    for (auto& e : backend_entries()) {
      if (e.name != GetParam()) continue;
      InterfaceAvailability a = e.available(*env_);
      if (!a.available) {
        GTEST_SKIP() << GetParam() << " is not available here: " << a.reason;
      }
    }
    be_ = make_backend(GetParam());
    ASSERT_NE(be_, nullptr);
    Outcome o = be_->setup({});
    ASSERT_FALSE(o.is_error) << "a default setup failed: " << o.str();
  }

  void TearDown() override {
    if (be_) {
      EXPECT_TRUE(be_->conventions().breaches.empty()) << "a convention breach was logged";
    }
  }

  static inline test::TempDir* scratch_ = nullptr;
  static inline Environment* env_ = nullptr;
  std::unique_ptr<Backend> be_;
};

TEST_P(BackendSuite, NameIsTheRegisteredOne) { EXPECT_EQ(be_->name(), GetParam()); }

TEST_P(BackendSuite, ReadCompletesWithLengthTagAndTheFilesBytes) {
  test::PatternFile f(8192);
  AlignedBuffer buf(4096);
  Request r = test::read_req(f.fd, buf.data(), 4096, 4096, 42);
  test::OneShot o = test::submit_and_reap(*be_, r);
  EXPECT_EQ(o.submit.str(), "1@submit");
  EXPECT_EQ(o.wait.str(), "1@wait");
  ASSERT_EQ(o.out.size(), 1u);
  EXPECT_EQ(o.out[0].tag, 42u);
  EXPECT_FALSE(o.out[0].result.is_error);
  EXPECT_EQ(o.out[0].result.value, 4096);
  EXPECT_EQ(o.out[0].result.phase, Phase::completion);
  EXPECT_EQ(verify_buffer(buf.data(), 4096, kFileSeed, 4096), "");
}

TEST_P(BackendSuite, WrittenBytesReadBack) {
  test::PatternFile f(8192);
  AlignedBuffer src(4096);
  fill_pattern(src.data(), 4096, kFileSeed + 1, 0);
  Request w = test::read_req(f.fd, src.data(), 4096, 0, 1);
  w.op = Op::write;
  test::OneShot o = test::submit_and_reap(*be_, w);
  EXPECT_EQ(o.submit.str(), "1@submit");
  ASSERT_EQ(o.out.size(), 1u);
  EXPECT_EQ(o.out[0].result.value, 4096);
  AlignedBuffer back(4096);
  ASSERT_EQ(pread(f.fd, back.data(), 4096, 0), 4096);
  EXPECT_EQ(verify_buffer(back.data(), 4096, kFileSeed + 1, 0), "");
}

TEST_P(BackendSuite, BadFdIsEbadfAtSubmitOrCompletion) {
  char b[16];
  Request r = test::read_req(0x7ffffff0, b, sizeof b, 0, 7);
  Outcome s = be_->submit({&r});
  if (s.is_error) {
    EXPECT_EQ(s.str(), "EBADF@submit");
    return;
  }
  std::vector<Completion> out;
  EXPECT_EQ(be_->wait(1, 1, timespec{5, 0}, out).str(), "1@wait");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result.str(), "EBADF@completion");
}

INSTANTIATE_TEST_SUITE_P(EveryInterface, BackendSuite, ::testing::ValuesIn(interface_names()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = i.param;
                           for (auto& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
}  // namespace aioh
