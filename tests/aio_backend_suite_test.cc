// One typed suite over the two kernel-AIO backends: the same io_setup and
// io_submit refusals reach kernel-aio as -1 + errno and libaio as the negated
// errno with errno left alone (the sentinel the backend arms stays). What is
// one interface's only (events, cancel, a shim's breach) stays in
// kernel_aio_backend_test.cc and libaio_backend_test.cc.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "backend.h"
#include "convention.h"

namespace aioh {
namespace {

struct AioFlavour {
  const char* iface;
  Channel channel;         // where a refused call's errno arrives
  bool leaves_errno;       // errno still holds the sentinel afterwards
};

class AioBackendSuite : public ::testing::TestWithParam<AioFlavour> {};

TEST_P(AioBackendSuite, SetupZeroEventsIsEinval) {
  auto be = make_backend(GetParam().iface);
  ASSERT_NE(be, nullptr);
  EXPECT_EQ(be->name(), GetParam().iface);
  SetupParams p;
  p.entries = 0;
  Outcome o = be->setup(p);
  if (GetParam().leaves_errno) {
    EXPECT_EQ(errno, kErrnoSentinel);
  }
  EXPECT_TRUE(o.is_error);
  EXPECT_EQ(o.err, EINVAL);
  EXPECT_EQ(o.channel, GetParam().channel);
  EXPECT_EQ(o.phase, Phase::setup);
  EXPECT_EQ(o.str(), "EINVAL@setup");
  EXPECT_TRUE(be->conventions().breaches.empty());
}

TEST_P(AioBackendSuite, BadFdIsEbadfAtSubmit) {
  auto be = make_backend(GetParam().iface);
  ASSERT_FALSE(be->setup({}).is_error);
  char b[16];
  Request r = make_request(Op::read, 0x7ffffff0, b, sizeof b, 0, 0);
  Outcome s = be->submit({&r});
  EXPECT_EQ(s.str(), "EBADF@submit");
  EXPECT_EQ(s.channel, GetParam().channel);
  EXPECT_TRUE(be->conventions().breaches.empty());
}

INSTANTIATE_TEST_SUITE_P(KernelAio, AioBackendSuite,
                         ::testing::Values(AioFlavour{"kernel-aio", Channel::errno_, false},
                                           AioFlavour{"libaio", Channel::ret, true}),
                         [](const ::testing::TestParamInfo<AioFlavour>& i) {
                           return std::string(i.param.iface) == "libaio" ? "libaio" : "kernel_aio";
                         });

}  // namespace
}  // namespace aioh
