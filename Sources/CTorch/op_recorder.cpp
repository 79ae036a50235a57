// Records the ATen operators this thread dispatches, with the dtypes of their tensor inputs and outputs, through
// libtorch's RecordFunction callbacks: what the fp16 audit compares with PyTorch (which casts what under autocast).
// Counts them too, with the host synchronisations among them: what a training step costs in launches and in waits
// for the device, the same way on the CPU as on a GPU (the benchmark counts PyTorch's step with the same rules).
#include "shim.h"
#include <ATen/record_function.h>
#include <atomic>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

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

namespace {
// Shared by the counting thread and the autograd threads it starts (the callbacks travel to them with the
// thread-local state; these counters must not).
std::atomic<int64_t> op_count{0}, call_count{0}, sync_count{0};
std::atomic<bool> counting{false};
std::mutex sync_mutex;
std::string sync_lines;
thread_local at::CallbackHandle count_handle = 0;

bool on_device(const c10::IValue &v) {
  return v.isTensor() && v.toTensor().defined() && !v.toTensor().is_cpu() && !v.toTensor().is_meta();
}

void note_sync(const std::string &name, const char *reason) {
  sync_count++;
  std::lock_guard<std::mutex> lock(sync_mutex);
  sync_lines += name + '\t' + reason + '\n';
}

// The ops this thread is inside, outermost first: a scalar read counts when the program asked for it (item() and
// the like), not when a CPU kernel reads its own CPU argument (fused AdamW's step count), which on a GPU is a read
// on the device.
thread_local std::vector<std::string> open_ops;

bool program_reads(const std::string &outermost) {
  return outermost == "aten::item" || outermost == "aten::_local_scalar_dense" || outermost == "aten::is_nonzero" ||
         outermost == "aten::equal" || outermost == "aten::allclose";
}

// Which ops make the host wait: a scalar read; a copy between host and device without non_blocking (torch
// synchronises the stream after it, both ways); an output whose size depends on the data.
std::unique_ptr<at::ObserverContext> count_start(const at::RecordFunction &fn) {
  if (!counting) return nullptr;
  const std::string name = fn.name();
  open_ops.push_back(name);
  if (name.rfind("aten::", 0) != 0) return nullptr;
  op_count++;
  if (open_ops.size() == 1) call_count++;
  const std::string &outermost = open_ops.front();
  const std::string site = outermost == name ? name : outermost + " > " + name;
  if (name == "aten::_local_scalar_dense") {
    if (program_reads(outermost)) note_sync(site, "scalar read");
  } else if (name == "aten::nonzero" || name == "aten::masked_select" || name == "aten::_unique2" ||
             name == "aten::unique_consecutive") {
    note_sync(site, "shape from data");
  } else if (name == "aten::copy_") {
    try {
      auto in = fn.inputs();
      if (in.size() >= 3 && on_device(in[0]) != on_device(in[1]) && !(in[2].isBool() && in[2].toBool())) {
        note_sync(site, on_device(in[1]) ? "blocking device-to-host copy" : "blocking host-to-device copy");
      }
    } catch (...) {
    }
  }
  return nullptr;
}

void count_end(const at::RecordFunction &, at::ObserverContext *) {
  if (!open_ops.empty()) open_ops.pop_back();
}
} // namespace

namespace {
thread_local bool host_side = false;
}

// Also called by ct_copy_to_buffer: Swift reading a tensor's values is a wait for the device wherever it lives,
// unless the program says the data was made on the host (ct_op_counting_host_side).
void ct_note_host_read(void) {
  if (counting && !host_side) note_sync("ct_copy_to_buffer", "host read of tensor data");
}

void ct_op_counting_host_side(bool on) { host_side = on; }

int ct_op_counting_start(void) {
  CT_STATUS({
    if (count_handle != 0) throw std::runtime_error("op counting is already on in this thread");
    op_count = 0;
    call_count = 0;
    sync_count = 0;
    {
      std::lock_guard<std::mutex> lock(sync_mutex);
      sync_lines.clear();
    }
    open_ops.clear();
    counting = true;
    count_handle = at::addThreadLocalCallback(
        at::RecordFunctionCallback(count_start, count_end).needsInputs(true).scopes({at::RecordScope::FUNCTION}));
  });
}

char *ct_op_counting_stop(int64_t *ops, int64_t *calls, int64_t *syncs) {
  CT_GUARD(nullptr, {
    if (count_handle == 0) throw std::runtime_error("op counting is not on in this thread");
    at::removeCallback(count_handle);
    count_handle = 0;
    counting = false;
    open_ops.clear();
    *ops = op_count;
    *calls = call_count;
    *syncs = sync_count;
    std::lock_guard<std::mutex> lock(sync_mutex);
    return strdup(sync_lines.c_str());
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
