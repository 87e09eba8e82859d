// Errno names: every user errno round-trips, kernel-internal codes have their
// kernel names, and unknown numbers are never given a wrong name.
#include <gtest/gtest.h>

#include <cerrno>

#include "errno_names.h"

using namespace aioh;

TEST(ErrnoNames, RoundTripsCommonNames) {
  for (int e : {EPERM, EBADF, EAGAIN, EINVAL, EFAULT, ENOSYS, ETIME, ECANCELED, EALREADY, EINPROGRESS, EOPNOTSUPP}) {
    auto name = errno_name(e);
    ASSERT_EQ(errno_from_name(name), e) << name;
  }
  EXPECT_EQ(errno_name(EBADF), "EBADF");
  EXPECT_EQ(errno_name(EAGAIN), "EAGAIN");  // not its alias EWOULDBLOCK
}

TEST(ErrnoNames, AliasesResolveToCanonicalNumbers) {
  EXPECT_EQ(errno_from_name("EWOULDBLOCK"), EAGAIN);
  EXPECT_EQ(errno_from_name("ENOTSUP"), EOPNOTSUPP);
}

TEST(ErrnoNames, KernelInternalCodesAreNamedAndFlagged) {
  EXPECT_EQ(errno_name(512), "ERESTARTSYS");
  EXPECT_EQ(errno_name(529), "EIOCBQUEUED");
  EXPECT_TRUE(errno_is_kernel_internal(512));
  EXPECT_FALSE(errno_is_kernel_internal(EINVAL));
}

TEST(ErrnoNames, UnknownNumbersAndNames) {
  EXPECT_EQ(errno_name(4000), "E#4000");
  EXPECT_FALSE(errno_from_name("EBOGUS").has_value());
}
