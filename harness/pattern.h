// Offset-stamped data patterns. Every byte written by a case is a function of
// its file offset and a seed, so a read that returns the right length but the
// wrong bytes, or bytes from the wrong place, is caught with the first
// differing offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace aioh {

inline constexpr uint64_t kFileSeed = 0xA10C0DE;   // scratch file contents
inline constexpr uint64_t kWriteSeed = 0x5EEDF00D;  // data a case writes

uint8_t pattern_byte(uint64_t seed, uint64_t file_offset);
void fill_pattern(void* buf, size_t len, uint64_t seed, uint64_t file_offset);
// First offset (file offset) whose byte differs, or nullopt when all match.
std::optional<uint64_t> first_mismatch(const void* buf, size_t len,
                                       uint64_t seed, uint64_t file_offset);

// Writes the file's dirty pages back and waits for them (sync_file_range
// WAIT_BEFORE|WRITE|WAIT_AFTER), so an O_DIRECT request sees what a buffered
// write put there and a RWF_NOWAIT one finds nothing to wait for; no journal
// commit and no device cache flush, which fsync(2) adds and no case's set-up
// needs (each one a journal commit per case, most of a set-up's kernel time in
// a TCG guest). Falls back to fsync where the call is refused. 0 or -1/errno.
int write_back(int fd);

// Reads [offset, offset+len) back with pread and compares with the pattern;
// returns "" when intact, else a reason naming the first differing offset.
std::string verify_file(int fd, uint64_t offset, size_t len, uint64_t seed);
// Compares a buffer that should hold file bytes [offset, offset+len).
std::string verify_buffer(const void* buf, size_t len, uint64_t seed,
                          uint64_t offset);

// Memory with an exact alignment: the returned pointer is aligned to `align`
// plus `misalign` bytes, and never to a larger power of two than that implies
// (so a "1-byte aligned" buffer really is odd).
class AlignedBuffer {
 public:
  AlignedBuffer(size_t len, size_t align = 4096, size_t misalign = 0);
  ~AlignedBuffer();
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  uint8_t* data() const { return p_; }
  size_t size() const { return len_; }

 private:
  void* base_ = nullptr;
  uint8_t* p_ = nullptr;
  size_t len_ = 0;
};

}  // namespace aioh
