// The return conventions: correct shapes normalise silently, every breach is
// logged (a wrapper that sets errno, a syscall that returns -errno, a -1
// without errno).
#include <gtest/gtest.h>

#include <cerrno>

#include "convention.h"

using namespace aioh;

TEST(Convention, Minus1ErrnoIsAnErrnoChannelError) {
  ConventionLog log;
  auto o = from_minus1_errno(-1, EBADF, Phase::submit, log, "io_submit");
  EXPECT_TRUE(o.is_error);
  EXPECT_EQ(o.err, EBADF);
  EXPECT_EQ(o.channel, Channel::errno_);
  EXPECT_TRUE(log.breaches.empty());
}

TEST(Convention, RawNegativeFromASyscallIsABreach) {
  ConventionLog log;
  auto o = from_minus1_errno(-EINVAL, kErrnoSentinel, Phase::submit, log, "io_submit");
  EXPECT_EQ(o.err, EINVAL);
  ASSERT_EQ(log.breaches.size(), 1u);
  EXPECT_NE(log.breaches[0].find("instead of -1"), std::string::npos);
}

TEST(Convention, Minus1WithoutErrnoIsABreach) {
  ConventionLog log;
  from_minus1_errno(-1, kErrnoSentinel, Phase::submit, log, "aio_read");
  EXPECT_EQ(log.breaches.size(), 1u);
}

TEST(Convention, NegErrnoLeavesErrnoAlone) {
  ConventionLog log;
  auto o = from_neg_errno(-EAGAIN, kErrnoSentinel, Phase::setup, log, "io_setup");
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_EQ(o.channel, Channel::ret);
  EXPECT_TRUE(log.breaches.empty());
}

TEST(Convention, NegErrnoWrapperTouchingErrnoIsABreach) {
  ConventionLog log;
  auto o = from_neg_errno(-1, EINVAL, Phase::submit, log, "io_submit");
  EXPECT_EQ(o.err, EINVAL);  // still normalised to what it meant
  EXPECT_EQ(log.breaches.size(), 2u);  // errno touched, and -1 instead of -errno
}

TEST(Convention, ResFieldCarriesNegatedErrno) {
  auto e = from_res_field(-ECANCELED, Channel::cqe_res);
  EXPECT_TRUE(e.is_error);
  EXPECT_EQ(e.str(), "ECANCELED@completion");
  auto v = from_res_field(4096, Channel::io_event_res);
  EXPECT_EQ(v.str(), "4096@completion");
  EXPECT_EQ(from_res_field(-512, Channel::cqe_res).str(), "ERESTARTSYS@completion");
}
