/* Shared by the mutation campaign's shims (libmatrix/mutants.toml): each shim is LD_PRELOADed
 * over the harness, defines one exported library function with one subtle defect, and reaches
 * the real function with dlsym(RTLD_NEXT), the next object in the loader's search order (the
 * real liburing.so.2 or libaio.so.1). REAL(fn) is the real fn, typed like the header's fn. */
#ifndef AIOH_MUTANT_H
#define AIOH_MUTANT_H
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static inline void* mutant_real(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (!f) {
    fprintf(stderr, "mutant: no real %s: %s\n", name, dlerror());
    abort();
  }
  return f;
}
#define REAL(fn) ((__typeof__(&fn))mutant_real(#fn))

/* The raw-syscall convention where the library documents the negated errno. */
static inline int mutant_minus_one(int r) {
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return r;
}
#endif
