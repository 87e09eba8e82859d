// Offset-stamped patterns catch wrong and misplaced bytes; aligned buffers
// have exactly the alignment asked for.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "pattern.h"
#include "test_util.h"

using namespace aioh;

TEST(Pattern, DetectsAFlippedByteAtItsOffset) {
  std::vector<uint8_t> b(4096);
  fill_pattern(b.data(), b.size(), kFileSeed, 8192);
  EXPECT_FALSE(first_mismatch(b.data(), b.size(), kFileSeed, 8192));
  b[100] ^= 1;
  auto bad = first_mismatch(b.data(), b.size(), kFileSeed, 8192);
  ASSERT_TRUE(bad);
  EXPECT_EQ(*bad, 8292u);
}

TEST(Pattern, DetectsDataFromTheWrongOffset) {
  std::vector<uint8_t> b(512);
  for (uint64_t shift : {1, 8, 512, 4096}) {
    fill_pattern(b.data(), b.size(), kFileSeed, shift);
    EXPECT_TRUE(first_mismatch(b.data(), b.size(), kFileSeed, 0)) << "shift " << shift;
  }
}

// fill_pattern and first_mismatch work a word at a time: at every start
// offset and length (word-aligned or not) they agree with pattern_byte, and
// a flipped byte is found at its own offset, not at its word's start.
TEST(Pattern, WordAtATimeAgreesWithEveryByteAtAnyOffset) {
  for (uint64_t start : {0, 1, 3, 7, 8, 9, 4095, 4096, 4101}) {
    for (size_t len : {0, 1, 5, 8, 9, 16, 23, 100}) {
      std::vector<uint8_t> b(len);
      fill_pattern(b.data(), len, kWriteSeed, start);
      for (size_t i = 0; i < len; i++)
        ASSERT_EQ(b[i], pattern_byte(kWriteSeed, start + i)) << "start " << start << " len " << len << " byte " << i;
      EXPECT_FALSE(first_mismatch(b.data(), len, kWriteSeed, start));
      for (size_t i = 0; i < len; i++) {
        b[i] ^= 0x80;
        auto bad = first_mismatch(b.data(), len, kWriteSeed, start);
        ASSERT_TRUE(bad) << "start " << start << " len " << len << " byte " << i;
        EXPECT_EQ(*bad, start + i);
        b[i] ^= 0x80;
      }
    }
  }
}

TEST(Pattern, VerifyFileReportsShortAndWrongData) {
  test::TempDir d;
  std::string p = d.path + "/f";
  int fd = open(p.c_str(), O_CREAT | O_RDWR, 0600);
  std::vector<uint8_t> b(4096);
  fill_pattern(b.data(), b.size(), kWriteSeed, 0);
  ASSERT_EQ(pwrite(fd, b.data(), b.size(), 0), 4096);
  EXPECT_EQ(verify_file(fd, 0, 4096, kWriteSeed), "");
  EXPECT_NE(verify_file(fd, 0, 8192, kWriteSeed).find("short"), std::string::npos);
  EXPECT_NE(verify_file(fd, 0, 4096, kFileSeed).find("mismatch at file offset 0"), std::string::npos);
  close(fd);
}

TEST(AlignedBuffer, HasExactlyTheRequestedAlignment) {
  for (size_t misalign : {1, 4, 8, 512, 2048}) {
    AlignedBuffer b(4096, 4096, misalign);
    auto a = reinterpret_cast<uintptr_t>(b.data());
    EXPECT_EQ(a % misalign, 0u);
    EXPECT_NE(a % (misalign * 2), 0u) << "misalign " << misalign << " is more aligned than asked";
  }
  AlignedBuffer page(4096, 4096, 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(page.data()) % 4096, 0u);
}
