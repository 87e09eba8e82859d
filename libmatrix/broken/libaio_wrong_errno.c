/* A deliberately broken libaio for the library matrix's gate check: a prefix build with the
 * soname libaio.so.1 that forwards every call to the real libaio but returns errors the raw
 * syscall way (-1 with errno set) instead of libaio's negated errno (io_submit(3) RETURN VALUE).
 * A user's prefix that does this must fail `scripts/gate` against the system build. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <libaio.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef REAL_LIBAIO
#error "REAL_LIBAIO must name the real libaio file"
#endif

static void* real(const char* name) {
  static void* handle;
  if (!handle && !(handle = dlopen(REAL_LIBAIO, RTLD_NOW | RTLD_LOCAL))) {
    fprintf(stderr, "libaio_wrong_errno: %s\n", dlerror());
    abort();
  }
  void* f = dlsym(handle, name);
  if (!f) abort();
  return f;
}

/* The broken convention: a negative errno becomes -1 with errno set. */
static int wrong(int r) {
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return r;
}

int io_queue_init(int maxevents, io_context_t* ctxp) {
  return wrong(((int (*)(int, io_context_t*))real("io_queue_init"))(maxevents, ctxp));
}
int io_queue_release(io_context_t ctx) {
  return wrong(((int (*)(io_context_t))real("io_queue_release"))(ctx));
}
int io_queue_run(io_context_t ctx) { return wrong(((int (*)(io_context_t))real("io_queue_run"))(ctx)); }
int io_queue_wait(io_context_t ctx, struct timespec* ts) {
  return wrong(((int (*)(io_context_t, struct timespec*))real("io_queue_wait"))(ctx, ts));
}
int io_setup(int maxevents, io_context_t* ctxp) {
  return wrong(((int (*)(int, io_context_t*))real("io_setup"))(maxevents, ctxp));
}
int io_destroy(io_context_t ctx) { return wrong(((int (*)(io_context_t))real("io_destroy"))(ctx)); }
int io_submit(io_context_t ctx, long nr, struct iocb* ios[]) {
  return wrong(((int (*)(io_context_t, long, struct iocb**))real("io_submit"))(ctx, nr, ios));
}
int io_cancel(io_context_t ctx, struct iocb* iocb, struct io_event* evt) {
  return wrong(((int (*)(io_context_t, struct iocb*, struct io_event*))real("io_cancel"))(ctx, iocb, evt));
}
int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event* events, struct timespec* timeout) {
  return wrong(((int (*)(io_context_t, long, long, struct io_event*, struct timespec*))real("io_getevents"))(
      ctx, min_nr, nr, events, timeout));
}
int io_pgetevents(io_context_t ctx, long min_nr, long nr, struct io_event* events, struct timespec* timeout,
                  sigset_t* sigset) {
  return wrong(((int (*)(io_context_t, long, long, struct io_event*, struct timespec*, sigset_t*))real(
      "io_pgetevents"))(ctx, min_nr, nr, events, timeout, sigset));
}
