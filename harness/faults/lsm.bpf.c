// The kernel side of the BPF LSM fault layer (faults/lsm.cc): a program on
// the LSM hook file_permission, which rw_verify_area() (fs/read_write.c)
// calls for every read and write that reaches a file: read(2)/pread64 (glibc
// AIO's worker threads), fs/aio.c aio_read()/aio_write() in io_submit's
// context, and io_uring/rw.c __io_read()/io_write() inline or on an io-wq
// worker. It fails the access with the row's errno when the file is one of
// the case's scratch files (s_dev + i_ino) and the caller is a thread of the
// case's process (tgid: io-wq workers and glibc's AIO threads share it), and
// counts matches and denials where the harness reads them back. Built with
// clang -target bpf; struct layouts come from the running kernel's BTF by
// CO-RE relocation, so no vmlinux.h is needed.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

// Only the fields read here; libbpf relocates their offsets against
// /sys/kernel/btf/vmlinux when the program loads.
struct super_block {
  __u32 s_dev;  // dev_t: MKDEV(major, minor) = major << 20 | minor
} __attribute__((preserve_access_index));
struct inode {
  unsigned long i_ino;
  struct super_block *i_sb;
} __attribute__((preserve_access_index));
struct file {
  struct inode *f_inode;
} __attribute__((preserve_access_index));

// Shared with faults/lsm.cc (same layout there).
struct aioh_lsm_config {
  __u32 tgid;   // the case's process
  __u32 mask;   // MAY_READ (4) or MAY_WRITE (2), include/linux/fs.h
  __s32 err;    // positive errno to return negated
  __u32 armed;  // 0 while the scenario prepares or verifies its files
  __u64 nth;    // 0: every match; N: only the Nth match
};
struct aioh_lsm_stats {
  __u64 matches;  // accesses of the target by the case while armed
  __u64 fired;    // of those, denied
};
struct aioh_lsm_key {
  __u64 ino;
  __u32 dev;
  __u32 pad;
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct aioh_lsm_config);
} aioh_lsm_cfg SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct aioh_lsm_stats);
} aioh_lsm_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16);
  __type(key, struct aioh_lsm_key);
  __type(value, __u8);
} aioh_lsm_targets SEC(".maps");

// -e for an errno e in [1, 2047], written so the verifier can see the range:
// since 6.10 it rejects an LSM program whose R0 is not provably in
// [-MAX_ERRNO, 0] at exit (kernel/bpf/verifier.c check_return_code(),
// bpf_lsm_get_retval_range()). A C clamp is no proof: clang turns it into an
// unsigned compare on a copy of the register, or a BPF_NEG, and the verifier
// loses the bound. The mask bounds the value, the subtraction keeps the bound
// (the verifier tracks BPF_SUB, not every kernel tracks BPF_NEG). Real errnos
// are far below 2048, so no errno changes; 0 turns into -2048, never into 0.
static __always_inline int neg_errno(__u32 e) {
  __u64 m = (__u64)((e - 1) & 2047);
  __s64 r = -1;
  asm volatile("%[r] -= %[m]" : [r] "+r"(r) : [m] "r"(m));
  return (int)r;
}

// `ret` is the verdict of the BPF LSM programs before this one.
SEC("lsm/file_permission")
int BPF_PROG(aioh_file_permission, struct file *file, int mask, int ret) {
  __u32 zero = 0;
  // Keep an earlier program's denial (its errno, bounded for the verifier).
  if ((int)ret != 0) return neg_errno((__u32)(-(int)ret));
  struct aioh_lsm_config *cfg = bpf_map_lookup_elem(&aioh_lsm_cfg, &zero);
  if (!cfg || !cfg->armed || !(mask & cfg->mask)) return 0;
  if ((__u32)(bpf_get_current_pid_tgid() >> 32) != cfg->tgid) return 0;
  struct aioh_lsm_key key = {};
  key.ino = file->f_inode->i_ino;
  key.dev = file->f_inode->i_sb->s_dev;
  if (!bpf_map_lookup_elem(&aioh_lsm_targets, &key)) return 0;
  struct aioh_lsm_stats *st = bpf_map_lookup_elem(&aioh_lsm_stats, &zero);
  if (!st) return 0;
  // A plain lock add and a re-read, not a fetch-and-add: BPF_FETCH atomics
  // came in 5.12 and 5.10 rejects the program before verifying it. The
  // re-read can see a concurrent match's increment too; the case's matching
  // accesses are issued one after another (io_submit and io_uring issue in
  // order in the submitter, glibc runs one fd's requests on one thread).
  __sync_fetch_and_add(&st->matches, 1);
  __u64 n = *(volatile __u64 *)&st->matches;
  if (cfg->nth && n != cfg->nth) return 0;
  __sync_fetch_and_add(&st->fired, 1);
  return neg_errno((__u32)cfg->err);
}

// BPF LSM programs must be GPL-compatible (kernel/bpf/bpf_lsm.c bpf_lsm_verify_prog).
char LICENSE[] SEC("license") = "GPL";
