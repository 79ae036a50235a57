// shim.h — what the shim's C++ files share (not part of the C interface): the tensor handle, the per-thread last
// error, and the guard that turns every C++ exception into that error, because an exception crossing into Swift
// would abort the process.
#pragma once

#include "ctorch.h"

#include <ATen/ATen.h>

#include <string>

struct ct_tensor_s {
  at::Tensor t;
};

namespace ctorch {

extern thread_local bool has_error;
void set_error(const char *msg);
ct_tensor wrap(at::Tensor t);

} // namespace ctorch

// op_recorder.cpp: counts a host read while op counting is on.
void ct_note_host_read(void);

// Runs `body`; on an exception records the message and returns `fail`.
#define CT_GUARD(fail, ...)                                                                                         \
  do {                                                                                                                \
    ctorch::has_error = false;                                                                                        \
    try {                                                                                                             \
      __VA_ARGS__                                                                                                     \
    } catch (const c10::Error &e) {                                                                                   \
      ctorch::set_error(e.what_without_backtrace());                                                                 \
      return fail;                                                                                                    \
    } catch (const std::exception &e) {                                                                               \
      ctorch::set_error(e.what());                                                                                    \
      return fail;                                                                                                    \
    } catch (...) {                                                                                                   \
      ctorch::set_error("unknown C++ exception");                                                                    \
      return fail;                                                                                                    \
    }                                                                                                                 \
  } while (0)

#define CT_TENSOR(...) CT_GUARD(nullptr, return ctorch::wrap(__VA_ARGS__);)
#define CT_STATUS(...) CT_GUARD(-1, __VA_ARGS__; return 0;)
