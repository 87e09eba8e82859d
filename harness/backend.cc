// The backend selector: interface name -> implementation.
#include "backend.h"

namespace aioh {

std::string_view op_name(Op op) {
  switch (op) {
    case Op::read: return "read";
    case Op::write: return "write";
    case Op::readv: return "readv";
    case Op::writev: return "writev";
    case Op::fsync: return "fsync";
    case Op::fdatasync: return "fdatasync";
    case Op::poll: return "poll";
    case Op::nop: return "nop";
  }
  return "?";
}

std::unique_ptr<Backend> make_backend(std::string_view name) {
  if (name == "posix-aio") return make_posix_aio_backend();
  if (name == "kernel-aio") return make_kernel_aio_backend();
  if (name == "libaio") return make_libaio_backend();
  if (name == "io_uring") return make_io_uring_backend();
  return nullptr;
}

}  // namespace aioh

