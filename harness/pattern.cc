// Offset-stamped patterns and exactly-aligned buffers (see pattern.h).
#include "pattern.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include <fmt/format.h>

#include "errno_names.h"

namespace aioh {

namespace {

// splitmix64 of the 8-byte word index: byte k of a word is bits 8k..8k+7.
uint64_t pattern_word(uint64_t seed, uint64_t word) {
  uint64_t z = seed + word * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The word's bytes in file order (byte k = bits 8k..8k+7, whatever the host's
// byte order), so whole words are stored and compared with memcpy/memcmp.
void word_bytes(uint64_t z, uint8_t out[8]) {
  for (int k = 0; k < 8; k++) out[k] = static_cast<uint8_t>(z >> (k * 8));
}

}  // namespace

uint8_t pattern_byte(uint64_t seed, uint64_t off) {
  // One byte per position of its word's hash: neighbouring words differ, so a
  // shift by any amount is visible.
  return static_cast<uint8_t>(pattern_word(seed, off / 8) >> ((off % 8) * 8));
}

// Both loops hash once per word, not once per byte: filling and checking are
// most of a sweep case's own CPU, and eight times that under TCG in the guests.
void fill_pattern(void* buf, size_t len, uint64_t seed, uint64_t off) {
  auto* p = static_cast<uint8_t*>(buf);
  size_t i = 0;
  for (; i < len && (off + i) % 8 != 0; i++) p[i] = pattern_byte(seed, off + i);
  uint8_t w[8];
  for (; i + 8 <= len; i += 8) {
    word_bytes(pattern_word(seed, (off + i) / 8), w);
    std::memcpy(p + i, w, 8);
  }
  for (; i < len; i++) p[i] = pattern_byte(seed, off + i);
}

std::optional<uint64_t> first_mismatch(const void* buf, size_t len,
                                       uint64_t seed, uint64_t off) {
  const auto* p = static_cast<const uint8_t*>(buf);
  size_t i = 0;
  for (; i < len && (off + i) % 8 != 0; i++)
    if (p[i] != pattern_byte(seed, off + i)) return off + i;
  uint8_t w[8];
  for (; i + 8 <= len; i += 8) {
    word_bytes(pattern_word(seed, (off + i) / 8), w);
    if (std::memcmp(p + i, w, 8) != 0)
      for (size_t k = 0; k < 8; k++)
        if (p[i + k] != w[k]) return off + i + k;
  }
  for (; i < len; i++)
    if (p[i] != pattern_byte(seed, off + i)) return off + i;
  return std::nullopt;
}

int write_back(int fd) {
  if (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == 0)
    return 0;
  return fsync(fd);
}

std::string verify_buffer(const void* buf, size_t len, uint64_t seed,
                          uint64_t off) {
  auto bad = first_mismatch(buf, len, seed, off);
  if (!bad) return "";
  const auto* p = static_cast<const uint8_t*>(buf);
  return fmt::format("data mismatch at file offset {}: got 0x{:02x}, want 0x{:02x}",
                     *bad, p[*bad - off], pattern_byte(seed, *bad));
}

std::string verify_file(int fd, uint64_t off, size_t len, uint64_t seed) {
  // An O_DIRECT fd would refuse the unaligned buffer below: read through a
  // buffered descriptor of the same file instead.
  int own = -1;
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && (fl & O_DIRECT)) {
    own = open(fmt::format("/proc/self/fd/{}", fd).c_str(), O_RDONLY | O_CLOEXEC);
    if (own < 0) return fmt::format("cannot reopen fd {} for read-back: {}", fd, errno_name(errno));
    fd = own;
  }
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) close(fd);
    }
  } closer{own};
  std::vector<uint8_t> got(len);
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, got.data() + done, len - done, off + done);
    if (n < 0) return fmt::format("read-back failed at offset {}: {}", off + done, errno_name(errno));
    if (n == 0)
      return fmt::format("read-back short: file ends at {} before {}", off + done, off + len);
    done += n;
  }
  return verify_buffer(got.data(), len, seed, off);
}

AlignedBuffer::AlignedBuffer(size_t len, size_t align, size_t misalign)
    : len_(len) {
  // Over-allocate by 2*align so base+misalign is aligned to `align` but, when
  // misalign is 0, not necessarily more; with misalign > 0 the pointer's
  // alignment is exactly the lowest set bit of misalign.
  size_t big = align * 2 < 4096 ? 8192 : align * 2;
  if (posix_memalign(&base_, big, len + big + misalign) != 0) throw std::bad_alloc();
  auto* b = static_cast<uint8_t*>(base_);
  p_ = (misalign == 0) ? b + align % big : b + misalign;
  if (misalign == 0 && align >= big) p_ = b;
  std::memset(base_, 0, len + big + misalign);
}

AlignedBuffer::~AlignedBuffer() { free(base_); }

}  // namespace aioh
