// Records the ATen operators this thread dispatches, with the dtypes of their tensor inputs and outputs, through
// libtorch's RecordFunction callbacks: what the fp16 audit compares with PyTorch (which casts what under autocast).
#include "shim.h"
#include <ATen/record_function.h>
#include <sstream>
#include <string>

namespace {
thread_local std::ostringstream *log_stream = nullptr;
thread_local at::CallbackHandle handle = 0;

void dtypes(std::ostringstream &out, c10::ArrayRef<c10::IValue> values) {
  bool first = true;
  for (const auto &v : values) {
    if (!first) out << ',';
    first = false;
    if (v.isTensor() && v.toTensor().defined()) {
      out << c10::toString(v.toTensor().scalar_type());
    } else {
      out << '-';
    }
  }
}

// Each line is composed apart and written whole: a record without its inputs (some calls do not keep them) throws
// in inputs(), and must not leave half a line behind.
void write(const char *prefix, const at::RecordFunction &fn, bool outputs) {
  std::ostringstream line;
  line << prefix << fn.name() << '\t';
  try {
    if (outputs) {
      dtypes(line, fn.outputs());
    } else {
      dtypes(line, fn.inputs());
    }
  } catch (...) {
    line << '?';
  }
  *log_stream << line.str() << '\n';
}

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction &fn) {
  if (log_stream) write("", fn, false);
  return nullptr;
}

void on_end(const at::RecordFunction &fn, at::ObserverContext *) {
  if (log_stream) write("->", fn, true);
}
}  // namespace

int ct_op_recording_start(void) {
  CT_STATUS({
    if (handle != 0) throw std::runtime_error("op recording is already on in this thread");
    log_stream = new std::ostringstream();
    handle = at::addThreadLocalCallback(at::RecordFunctionCallback(on_start, on_end)
                                            .needsInputs(true)
                                            .needsOutputs(true)
                                            .scopes({at::RecordScope::FUNCTION}));
  });
}

char *ct_op_recording_stop(void) {
  CT_GUARD(nullptr, {
    if (handle == 0) throw std::runtime_error("op recording is not on in this thread");
    at::removeCallback(handle);
    handle = 0;
    std::string text = log_stream->str();
    delete log_stream;
    log_stream = nullptr;
    return strdup(text.c_str());
  });
}
