// ctorch.cpp — the C shim over ATen. Each entry point catches every C++ exception and turns it into the
// per-thread last error, because an exception crossing into Swift would abort the process.
#include "shim.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/CachingDeviceAllocator.h>
#include <torch/headeronly/version.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/generated/variable_factories.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

struct ct_generator_s {
  at::Generator g;
};

namespace {
thread_local std::string last_error;
std::atomic<int64_t> live{0};
} // namespace

namespace ctorch {
thread_local bool has_error = false;

void set_error(const char *msg) {
  last_error = msg;
  has_error = true;
}

ct_tensor wrap(at::Tensor t) {
  live.fetch_add(1, std::memory_order_relaxed);
  return new ct_tensor_s{std::move(t)};
}
} // namespace ctorch

using ctorch::has_error;
using ctorch::set_error;
using ctorch::wrap;

namespace {

at::ScalarType scalar_type(int32_t code) {
  switch (code) {
  case CT_F32: return at::kFloat;
  case CT_F64: return at::kDouble;
  case CT_F16: return at::kHalf;
  case CT_BF16: return at::kBFloat16;
  case CT_I64: return at::kLong;
  case CT_I32: return at::kInt;
  case CT_U8: return at::kByte;
  case CT_BOOL: return at::kBool;
  case CT_I8: return at::kChar;
  case CT_I16: return at::kShort;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(code));
}

int32_t dtype_code(at::ScalarType s) {
  switch (s) {
  case at::kFloat: return CT_F32;
  case at::kDouble: return CT_F64;
  case at::kHalf: return CT_F16;
  case at::kBFloat16: return CT_BF16;
  case at::kLong: return CT_I64;
  case at::kInt: return CT_I32;
  case at::kByte: return CT_U8;
  case at::kBool: return CT_BOOL;
  case at::kChar: return CT_I8;
  case at::kShort: return CT_I16;
  default: return -1;
  }
}

at::DeviceType device_type(int32_t dev) {
  switch (dev) {
  case CT_CPU: return at::kCPU;
  case CT_CUDA: return at::kCUDA;
  case CT_META: return at::kMeta;
  }
  throw std::invalid_argument("unknown device type code " + std::to_string(dev));
}

at::TensorOptions options(int32_t dtype, int32_t dev, int32_t index) {
  return at::TensorOptions()
      .dtype(scalar_type(dtype))
      .device(at::Device(device_type(dev), static_cast<c10::DeviceIndex>(index < 0 ? -1 : index)));
}

at::IntArrayRef ints(const int64_t *p, int64_t n) { return at::IntArrayRef(p, static_cast<size_t>(n)); }

std::optional<at::Tensor> opt(ct_tensor t) {
  if (t == nullptr) return std::nullopt;
  return t->t;
}

std::optional<at::Generator> gen(ct_generator g) {
  if (g == nullptr) return std::nullopt;
  return g->g;
}

std::vector<at::Tensor> list(const ct_tensor *ts, int64_t n) {
  std::vector<at::Tensor> v;
  v.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) v.push_back(ts[i]->t);
  return v;
}

} // namespace


extern "C" {

// ---- errors, lifetime, runtime ----
const char *ct_last_error(void) { return has_error ? last_error.c_str() : nullptr; }
void ct_clear_error(void) { has_error = false; }
void ct_free(ct_tensor t) {
  if (t == nullptr) return;
  live.fetch_sub(1, std::memory_order_relaxed);
  delete t;
}
int64_t ct_live_tensors(void) { return live.load(); }
const char *ct_torch_version(void) { return TORCH_VERSION; }
bool ct_cuda_available(void) {
  try {
    return at::detail::getCUDAHooks().hasCUDA() && at::detail::getCUDAHooks().deviceCount() > 0;
  } catch (...) {
    return false;
  }
}
bool ct_cuda_built(void) {
  try {
    return at::detail::getCUDAHooks().isBuilt();
  } catch (...) {
    return false;
  }
}
int64_t ct_cuda_device_count(void) {
  try {
    return at::detail::getCUDAHooks().hasCUDA() ? at::detail::getCUDAHooks().deviceCount() : 0;
  } catch (...) {
    return 0;
  }
}
// Through c10's device-generic allocator interface, so no CUDA header is needed here.
int ct_cuda_memory_stats(int32_t index, int64_t *allocated, int64_t *peak_allocated, int64_t *peak_reserved) {
  CT_STATUS({
    auto stats = c10::getDeviceAllocator(c10::DeviceType::CUDA)->getDeviceStats(static_cast<c10::DeviceIndex>(index));
    const auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    *allocated = stats.allocated_bytes[all].current;
    *peak_allocated = stats.allocated_bytes[all].peak;
    *peak_reserved = stats.reserved_bytes[all].peak;
  });
}
int ct_cuda_reset_peak(int32_t index) {
  CT_STATUS(c10::getDeviceAllocator(c10::DeviceType::CUDA)->resetPeakStats(static_cast<c10::DeviceIndex>(index)));
}
void ct_line_buffered_stdout(void) { setvbuf(stdout, nullptr, _IOLBF, 0); }
void ct_set_num_threads(int32_t n) { at::set_num_threads(n); }
int32_t ct_get_num_threads(void) { return at::get_num_threads(); }
char *ct_describe(ct_tensor t) {
  CT_GUARD(nullptr, {
    std::ostringstream s;
    s << t->t;
    return strdup(s.str().c_str());
  });
}
void ct_free_string(char *s) { free(s); }

// ---- metadata and raw data ----
int32_t ct_dtype(ct_tensor t) { return dtype_code(t->t.scalar_type()); }
int32_t ct_device_type(ct_tensor t) {
  const auto &device = t->t.device();
  return device.is_cuda() ? CT_CUDA : device.is_meta() ? CT_META : CT_CPU;
}
int32_t ct_device_index(ct_tensor t) { return t->t.device().index(); }
int64_t ct_dim(ct_tensor t) { return t->t.dim(); }
void ct_sizes(ct_tensor t, int64_t *out) {
  auto s = t->t.sizes();
  std::copy(s.begin(), s.end(), out);
}
void ct_strides(ct_tensor t, int64_t *out) {
  auto s = t->t.strides();
  std::copy(s.begin(), s.end(), out);
}
int64_t ct_numel(ct_tensor t) { return t->t.numel(); }
bool ct_is_contiguous(ct_tensor t) { return t->t.is_contiguous(); }
void *ct_data_ptr(ct_tensor t) {
  try {
    return t->t.device().is_cpu() && t->t.has_storage() ? t->t.data_ptr() : nullptr;
  } catch (...) {
    return nullptr;
  }
}
int ct_copy_to_buffer(ct_tensor t, void *dst, size_t nbytes) {
  CT_STATUS({
    if (t->t.is_cpu()) ct_note_host_read();  // a device tensor is counted as its copy to the host
    at::Tensor c = t->t.detach().to(at::kCPU).contiguous();
    size_t need = static_cast<size_t>(c.numel()) * c.element_size();
    if (need != nbytes)
      throw std::invalid_argument("buffer holds " + std::to_string(nbytes) + " bytes, tensor needs " +
                                  std::to_string(need));
    if (need > 0) std::memcpy(dst, c.data_ptr(), need);
  });
}
int ct_item(ct_tensor t, double *out) { CT_STATUS(*out = t->t.item().toDouble()); }
bool ct_same_storage(ct_tensor a, ct_tensor b) { return a->t.is_same(b->t) || a->t.is_alias_of(b->t); }

// ---- creation ----
ct_tensor ct_from_buffer(const void *data, const int64_t *shape, int64_t ndim, int32_t dtype) {
  CT_GUARD(nullptr, {
    at::Tensor t = at::empty(ints(shape, ndim), options(dtype, CT_CPU, -1));
    size_t n = static_cast<size_t>(t.numel()) * t.element_size();
    if (n > 0) std::memcpy(t.data_ptr(), data, n);
    return wrap(t);
  });
}
ct_tensor ct_empty(const int64_t *shape, int64_t ndim, int32_t dtype, int32_t dev, int32_t index) {
  CT_TENSOR(at::empty(ints(shape, ndim), options(dtype, dev, index)));
}
ct_tensor ct_full(const int64_t *shape, int64_t ndim, double value, int32_t dtype, int32_t dev, int32_t index) {
  CT_TENSOR(at::full(ints(shape, ndim), value, options(dtype, dev, index)));
}
ct_tensor ct_full_like(ct_tensor a, double value) { CT_TENSOR(at::full_like(a->t, value)); }
ct_tensor ct_arange(double start, double end, double step, int32_t dtype, int32_t dev, int32_t index) {
  CT_TENSOR(at::arange(start, end, step, options(dtype, dev, index)));
}
ct_tensor ct_linspace(double start, double end, int64_t steps, int32_t dtype, int32_t dev, int32_t index) {
  CT_TENSOR(at::linspace(start, end, steps, options(dtype, dev, index)));
}
ct_tensor ct_randn(const int64_t *shape, int64_t ndim, int32_t dtype, int32_t dev, int32_t index, ct_generator g) {
  CT_TENSOR(at::randn(ints(shape, ndim), gen(g), options(dtype, dev, index)));
}
ct_tensor ct_rand(const int64_t *shape, int64_t ndim, int32_t dtype, int32_t dev, int32_t index, ct_generator g) {
  CT_TENSOR(at::rand(ints(shape, ndim), gen(g), options(dtype, dev, index)));
}
ct_tensor ct_randint(int64_t low, int64_t high, const int64_t *shape, int64_t ndim, int32_t dtype, int32_t dev,
                     int32_t index, ct_generator g) {
  CT_TENSOR(at::randint(low, high, ints(shape, ndim), gen(g), options(dtype, dev, index)));
}
ct_tensor ct_randperm(int64_t n, ct_generator g) { CT_TENSOR(at::randperm(n, gen(g), at::TensorOptions(at::kLong))); }
int ct_uniform_(ct_tensor t, double from, double to, ct_generator g) {
  at::NoGradGuard ng;
  CT_STATUS(t->t.uniform_(from, to, gen(g)));
}
int ct_normal_(ct_tensor t, double mean, double std, ct_generator g) {
  at::NoGradGuard ng;
  CT_STATUS(t->t.normal_(mean, std, gen(g)));
}

// ---- RNG ----
void ct_manual_seed(uint64_t seed) {
  try {
    at::manual_seed(seed);
  } catch (...) {
  }
}
ct_generator ct_generator_new(int32_t dev, int32_t index, uint64_t seed) {
  CT_GUARD(nullptr, {
    at::Generator g;
    if (device_type(dev) == at::kCUDA) {
      g = at::detail::getCUDAHooks().getNewGenerator(static_cast<c10::DeviceIndex>(std::max(index, 0)));
    } else {
      g = at::make_generator<at::CPUGeneratorImpl>(seed);
    }
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_current_seed(seed);
    return new ct_generator_s{g};
  });
}
void ct_generator_free(ct_generator g) { delete g; }
ct_tensor ct_rng_get_state(ct_generator g) {
  CT_GUARD(nullptr, {
    at::Generator gg = g ? g->g : at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gg.mutex());
    return wrap(gg.get_state());
  });
}
int ct_rng_set_state(ct_generator g, ct_tensor state) {
  CT_STATUS({
    at::Generator gg = g ? g->g : at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gg.mutex());
    gg.set_state(state->t);
  });
}

ct_tensor ct_cuda_rng_get_state(int32_t index) {
  CT_GUARD(nullptr, {
    at::Generator gg = at::detail::getCUDAHooks().getDefaultGenerator(index);
    std::lock_guard<std::mutex> lock(gg.mutex());
    return wrap(gg.get_state());
  });
}
int ct_cuda_rng_set_state(int32_t index, ct_tensor state) {
  CT_STATUS({
    at::Generator gg = at::detail::getCUDAHooks().getDefaultGenerator(index);
    std::lock_guard<std::mutex> lock(gg.mutex());
    gg.set_state(state->t);
  });
}

// ---- grad mode, autocast ----
bool ct_grad_enabled(void) { return at::GradMode::is_enabled(); }
void ct_set_grad_enabled(bool on) { at::GradMode::set_enabled(on); }
bool ct_autocast_enabled(int32_t dev) {
  try {
    return at::autocast::is_autocast_enabled(device_type(dev));
  } catch (...) {
    return false;
  }
}
int32_t ct_autocast_dtype(int32_t dev) {
  try {
    return dtype_code(at::autocast::get_autocast_dtype(device_type(dev)));
  } catch (...) {
    return -1;
  }
}
int ct_autocast_set(int32_t dev, bool enabled, int32_t dtype) {
  CT_STATUS({
    at::autocast::set_autocast_dtype(device_type(dev), scalar_type(dtype));
    at::autocast::set_autocast_enabled(device_type(dev), enabled);
  });
}
void ct_autocast_increment_nesting(void) { at::autocast::increment_nesting(); }
void ct_autocast_decrement_nesting(void) {
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
}

// ---- autograd ----
bool ct_requires_grad(ct_tensor t) { return t->t.requires_grad(); }
int ct_set_requires_grad(ct_tensor t, bool on) { CT_STATUS(t->t.set_requires_grad(on)); }
ct_tensor ct_grad(ct_tensor t) {
  CT_GUARD(nullptr, {
    const at::Tensor &g = t->t.grad();
    if (!g.defined()) return nullptr;
    return wrap(g);
  });
}
int ct_set_grad(ct_tensor t, ct_tensor g) {
  CT_STATUS({
    if (g == nullptr) {
      t->t.mutable_grad().reset();
    } else {
      t->t.mutable_grad() = g->t;
    }
  });
}
int ct_backward(ct_tensor t, ct_tensor grad, bool retain_graph) {
  CT_STATUS(t->t.backward(grad ? grad->t : at::Tensor(), retain_graph));
}
bool ct_is_leaf(ct_tensor t) { return t->t.is_leaf(); }
ct_tensor ct_detach(ct_tensor t) { CT_TENSOR(t->t.detach()); }

// ---- element-wise ----
ct_tensor ct_unary(int32_t op, ct_tensor a) {
  CT_GUARD(nullptr, {
    const at::Tensor &x = a->t;
    switch (op) {
    case CT_NEG: return wrap(at::neg(x));
    case CT_EXP: return wrap(at::exp(x));
    case CT_LOG: return wrap(at::log(x));
    case CT_SQRT: return wrap(at::sqrt(x));
    case CT_RSQRT: return wrap(at::rsqrt(x));
    case CT_ABS: return wrap(at::abs(x));
    case CT_SIN: return wrap(at::sin(x));
    case CT_COS: return wrap(at::cos(x));
    case CT_TANH: return wrap(at::tanh(x));
    case CT_SIGMOID: return wrap(at::sigmoid(x));
    case CT_RELU: return wrap(at::relu(x));
    case CT_SILU: return wrap(at::silu(x));
    case CT_GELU: return wrap(at::gelu(x, "none"));
    case CT_GELU_TANH: return wrap(at::gelu(x, "tanh"));
    case CT_QUICK_GELU: return wrap(x * at::sigmoid(x * 1.702)); // CLIP's quick_gelu
    case CT_SQUARE: return wrap(at::square(x));
    case CT_RECIPROCAL: return wrap(at::reciprocal(x));
    case CT_FLOOR: return wrap(at::floor(x));
    case CT_CEIL: return wrap(at::ceil(x));
    case CT_ROUND: return wrap(at::round(x));
    case CT_SIGN: return wrap(at::sign(x));
    case CT_LOGICAL_NOT: return wrap(at::logical_not(x));
    case CT_ISFINITE: return wrap(at::isfinite(x));
    case CT_ISNAN: return wrap(at::isnan(x));
    case CT_LOG1P: return wrap(at::log1p(x));
    case CT_EXPM1: return wrap(at::expm1(x));
    case CT_ERF: return wrap(at::erf(x));
    }
    throw std::invalid_argument("unknown unary op " + std::to_string(op));
  });
}

namespace {
at::Tensor binary(int32_t op, const at::Tensor &x, const at::Tensor &y) {
  switch (op) {
  case CT_ADD: return at::add(x, y);
  case CT_SUB: return at::sub(x, y);
  case CT_MUL: return at::mul(x, y);
  case CT_DIV: return at::div(x, y);
  case CT_POW: return at::pow(x, y);
  case CT_MAXIMUM: return at::maximum(x, y);
  case CT_MINIMUM: return at::minimum(x, y);
  case CT_EQ: return at::eq(x, y);
  case CT_NE: return at::ne(x, y);
  case CT_LT: return at::lt(x, y);
  case CT_LE: return at::le(x, y);
  case CT_GT: return at::gt(x, y);
  case CT_GE: return at::ge(x, y);
  case CT_LOGICAL_AND: return at::logical_and(x, y);
  case CT_LOGICAL_OR: return at::logical_or(x, y);
  case CT_REMAINDER: return at::remainder(x, y);
  case CT_ATAN2: return at::atan2(x, y);
  case CT_RSUB: return at::sub(y, x);
  case CT_RDIV: return at::div(y, x);
  case CT_RPOW: return at::pow(y, x);
  }
  throw std::invalid_argument("unknown binary op " + std::to_string(op));
}
} // namespace

ct_tensor ct_binary(int32_t op, ct_tensor a, ct_tensor b) { CT_TENSOR(binary(op, a->t, b->t)); }
ct_tensor ct_binary_scalar(int32_t op, ct_tensor a, double s) {
  CT_GUARD(nullptr, {
    const at::Tensor &x = a->t;
    // Scalar overloads keep x's dtype (a wrapped 0-dim tensor would too, but these avoid an allocation).
    switch (op) {
    case CT_ADD: return wrap(at::add(x, s));
    case CT_SUB: return wrap(at::sub(x, s));
    case CT_MUL: return wrap(at::mul(x, s));
    case CT_DIV: return wrap(at::div(x, s));
    case CT_POW: return wrap(at::pow(x, s));
    case CT_RSUB: return wrap(at::rsub(x, s));
    case CT_RPOW: return wrap(at::pow(at::Scalar(s), x));
    case CT_RDIV: return wrap(at::reciprocal(x) * s);  // what Python's `s / tensor` does
    case CT_EQ: return wrap(at::eq(x, s));
    case CT_NE: return wrap(at::ne(x, s));
    case CT_LT: return wrap(at::lt(x, s));
    case CT_LE: return wrap(at::le(x, s));
    case CT_GT: return wrap(at::gt(x, s));
    case CT_GE: return wrap(at::ge(x, s));
    case CT_REMAINDER: return wrap(at::remainder(x, s));
    }
    return wrap(binary(op, x, at::scalar_tensor(s, x.options()).to(x.device())));
  });
}
int ct_binary_(int32_t op, ct_tensor a, ct_tensor b) {
  CT_STATUS({
    switch (op) {
    case CT_ADD: a->t.add_(b->t); break;
    case CT_SUB: a->t.sub_(b->t); break;
    case CT_MUL: a->t.mul_(b->t); break;
    case CT_DIV: a->t.div_(b->t); break;
    default: throw std::invalid_argument("no in-place form of binary op " + std::to_string(op));
    }
  });
}
int ct_binary_scalar_(int32_t op, ct_tensor a, double s) {
  CT_STATUS({
    switch (op) {
    case CT_ADD: a->t.add_(s); break;
    case CT_SUB: a->t.sub_(s); break;
    case CT_MUL: a->t.mul_(s); break;
    case CT_DIV: a->t.div_(s); break;
    default: throw std::invalid_argument("no in-place form of binary op " + std::to_string(op));
    }
  });
}
int ct_copy_(ct_tensor dst, ct_tensor src) { CT_STATUS(dst->t.copy_(src->t)); }
int ct_fill_(ct_tensor t, double value) { CT_STATUS(t->t.fill_(value)); }
int ct_zero_(ct_tensor t) { CT_STATUS(t->t.zero_()); }
int ct_lerp_(ct_tensor a, ct_tensor end, double weight) { CT_STATUS(a->t.lerp_(end->t, weight)); }
int ct_addcmul_(ct_tensor a, ct_tensor t1, ct_tensor t2, double value) {
  CT_STATUS(a->t.addcmul_(t1->t, t2->t, value));
}
int ct_addcdiv_(ct_tensor a, ct_tensor t1, ct_tensor t2, double value) {
  CT_STATUS(a->t.addcdiv_(t1->t, t2->t, value));
}
ct_tensor ct_where(ct_tensor cond, ct_tensor a, ct_tensor b) { CT_TENSOR(at::where(cond->t, a->t, b->t)); }
ct_tensor ct_clamp(ct_tensor a, double lo, double hi, bool has_lo, bool has_hi) {
  CT_TENSOR(at::clamp(a->t, has_lo ? std::optional<at::Scalar>(lo) : std::nullopt,
                      has_hi ? std::optional<at::Scalar>(hi) : std::nullopt));
}
ct_tensor ct_masked_fill(ct_tensor a, ct_tensor mask, double value) { CT_TENSOR(a->t.masked_fill(mask->t, value)); }
ct_tensor ct_lerp(ct_tensor a, ct_tensor end, ct_tensor weight) { CT_TENSOR(at::lerp(a->t, end->t, weight->t)); }
ct_tensor ct_addcmul(ct_tensor a, ct_tensor t1, ct_tensor t2, double value) {
  CT_TENSOR(at::addcmul(a->t, t1->t, t2->t, value));
}

// ---- reductions ----
ct_tensor ct_reduce(int32_t op, ct_tensor a, const int64_t *dims, int64_t ndim, bool keepdim) {
  CT_GUARD(nullptr, {
    const at::Tensor &x = a->t;
    at::OptionalIntArrayRef d = ndim > 0 ? at::OptionalIntArrayRef(ints(dims, ndim)) : std::nullopt;
    std::vector<int64_t> all;
    if (ndim == 0)
      for (int64_t i = 0; i < x.dim(); i++) all.push_back(i);
    at::IntArrayRef dd = ndim > 0 ? ints(dims, ndim) : at::IntArrayRef(all);
    switch (op) {
    case CT_SUM: return wrap(at::sum(x, d, keepdim));
    case CT_MEAN: return wrap(at::mean(x, d, keepdim));
    case CT_AMAX: return wrap(at::amax(x, dd, keepdim));
    case CT_AMIN: return wrap(at::amin(x, dd, keepdim));
    case CT_LOGSUMEXP: return wrap(at::logsumexp(x, dd, keepdim));
    case CT_PROD: {
      at::Tensor r = x;
      if (ndim == 0) return wrap(keepdim ? at::prod(x).reshape(std::vector<int64_t>(x.dim(), 1)) : at::prod(x));
      std::vector<int64_t> sorted(dd.begin(), dd.end());
      for (auto &v : sorted) v = c10::maybe_wrap_dim(v, x.dim());
      std::sort(sorted.rbegin(), sorted.rend());
      for (int64_t v : sorted) r = at::prod(r, v, keepdim);
      return wrap(r);
    }
    case CT_ALL:
    case CT_ANY: {
      at::Tensor r = x;
      if (ndim == 0) {
        r = op == CT_ALL ? at::all(x) : at::any(x);
        return wrap(keepdim ? r.reshape(std::vector<int64_t>(x.dim(), 1)) : r);
      }
      return wrap(op == CT_ALL ? at::all(x, dd, keepdim) : at::any(x, dd, keepdim));
    }
    }
    throw std::invalid_argument("unknown reduction " + std::to_string(op));
  });
}
ct_tensor ct_var(ct_tensor a, const int64_t *dims, int64_t ndim, double correction, bool keepdim) {
  CT_TENSOR(at::var(a->t, ndim > 0 ? at::OptionalIntArrayRef(ints(dims, ndim)) : std::nullopt,
                    at::Scalar(correction), keepdim));
}
int ct_max_dim(ct_tensor a, int64_t dim, bool keepdim, ct_tensor *values, ct_tensor *indices) {
  CT_STATUS({
    auto r = at::max(a->t, dim, keepdim);
    // Wrapping cannot throw past this point, so neither handle can leak.
    *values = wrap(std::move(std::get<0>(r)));
    *indices = wrap(std::move(std::get<1>(r)));
  });
}
ct_tensor ct_argmax(ct_tensor a, int64_t dim, bool has_dim, bool keepdim) {
  CT_TENSOR(at::argmax(a->t, has_dim ? std::optional<int64_t>(dim) : std::nullopt, keepdim));
}
ct_tensor ct_vector_norm(ct_tensor a, double ord) { CT_TENSOR(at::linalg_vector_norm(a->t, ord)); }
ct_tensor ct_cumsum(ct_tensor a, int64_t dim) { CT_TENSOR(at::cumsum(a->t, dim)); }
ct_tensor ct_cumprod(ct_tensor a, int64_t dim) { CT_TENSOR(at::cumprod(a->t, dim)); }
ct_tensor ct_quantile(ct_tensor a, double q, int64_t dim, bool keepdim) {
  CT_TENSOR(at::quantile(a->t, q, dim, keepdim, "linear"));
}

// ---- conversion, shape and indexing ----
ct_tensor ct_to(ct_tensor a, int32_t dtype, int32_t dev, int32_t index) {
  CT_GUARD(nullptr, {
    at::Tensor t = a->t;
    if (dev >= 0) t = t.to(at::Device(device_type(dev), static_cast<c10::DeviceIndex>(index < 0 ? -1 : index)));
    if (dtype >= 0) t = t.to(scalar_type(dtype));
    return wrap(t);
  });
}
ct_tensor ct_to_non_blocking(ct_tensor a, int32_t dev, int32_t index) {
  CT_TENSOR(a->t.to(at::Device(device_type(dev), static_cast<c10::DeviceIndex>(index < 0 ? -1 : index)),
                    /*non_blocking=*/true));
}
ct_tensor ct_pin_memory(ct_tensor a) { CT_TENSOR(a->t.pin_memory()); }
bool ct_is_pinned(ct_tensor a) { return a->t.is_pinned(); }
ct_tensor ct_clone(ct_tensor a) { CT_TENSOR(a->t.clone()); }
ct_tensor ct_contiguous(ct_tensor a) { CT_TENSOR(a->t.contiguous()); }
ct_tensor ct_alias(ct_tensor a) { CT_TENSOR(a->t); }
int ct_set_data(ct_tensor t, ct_tensor data) {
  CT_STATUS({
    if (at::_has_compatible_shallow_copy_type(t->t, data->t)) {
      t->t.set_data(data->t);
    } else {
      // CPU <-> meta: set_data refuses tensors of another TensorImpl type; like PyTorch's Module.to, replace the tensor
      // (this handle, which the module and its optimizer share, points to the new one; requires_grad is kept).
      bool grad = t->t.requires_grad();
      t->t = data->t.detach();
      t->t.set_requires_grad(grad);
    }
  });
}
uint64_t ct_impl_id(ct_tensor t) { return reinterpret_cast<uint64_t>(t->t.unsafeGetTensorImpl()); }
ct_tensor ct_reshape(ct_tensor a, const int64_t *shape, int64_t ndim) { CT_TENSOR(a->t.reshape(ints(shape, ndim))); }
ct_tensor ct_view(ct_tensor a, const int64_t *shape, int64_t ndim) { CT_TENSOR(a->t.view(ints(shape, ndim))); }
ct_tensor ct_expand(ct_tensor a, const int64_t *shape, int64_t ndim) { CT_TENSOR(a->t.expand(ints(shape, ndim))); }
ct_tensor ct_repeat(ct_tensor a, const int64_t *repeats, int64_t ndim) {
  CT_TENSOR(a->t.repeat(ints(repeats, ndim)));
}
ct_tensor ct_permute(ct_tensor a, const int64_t *dims, int64_t ndim) { CT_TENSOR(a->t.permute(ints(dims, ndim))); }
ct_tensor ct_transpose(ct_tensor a, int64_t d0, int64_t d1) { CT_TENSOR(a->t.transpose(d0, d1)); }
ct_tensor ct_squeeze(ct_tensor a, int64_t dim) { CT_TENSOR(a->t.squeeze(dim)); }
ct_tensor ct_unsqueeze(ct_tensor a, int64_t dim) { CT_TENSOR(a->t.unsqueeze(dim)); }
ct_tensor ct_flatten(ct_tensor a, int64_t start, int64_t end) { CT_TENSOR(a->t.flatten(start, end)); }
ct_tensor ct_cat(const ct_tensor *ts, int64_t n, int64_t dim) { CT_TENSOR(at::cat(list(ts, n), dim)); }
ct_tensor ct_stack(const ct_tensor *ts, int64_t n, int64_t dim) { CT_TENSOR(at::stack(list(ts, n), dim)); }
int64_t ct_chunk(ct_tensor a, int64_t chunks, int64_t dim, ct_tensor *out) {
  CT_GUARD(-1, {
    auto parts = a->t.chunk(chunks, dim);
    for (size_t i = 0; i < parts.size(); i++) out[i] = wrap(parts[i]);
    return static_cast<int64_t>(parts.size());
  });
}
int64_t ct_split(ct_tensor a, const int64_t *sizes, int64_t n, int64_t dim, ct_tensor *out) {
  CT_GUARD(-1, {
    auto parts = a->t.split_with_sizes(ints(sizes, n), dim);
    for (size_t i = 0; i < parts.size(); i++) out[i] = wrap(parts[i]);
    return static_cast<int64_t>(parts.size());
  });
}
ct_tensor ct_slice(ct_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step) {
  CT_TENSOR(a->t.slice(dim, start, end, step));
}
ct_tensor ct_select(ct_tensor a, int64_t dim, int64_t index) { CT_TENSOR(a->t.select(dim, index)); }
ct_tensor ct_index_select(ct_tensor a, int64_t dim, ct_tensor index) {
  CT_TENSOR(at::index_select(a->t, dim, index->t));
}
ct_tensor ct_gather(ct_tensor a, int64_t dim, ct_tensor index) { CT_TENSOR(at::gather(a->t, dim, index->t)); }
ct_tensor ct_tril(ct_tensor a, int64_t k) { CT_TENSOR(at::tril(a->t, k)); }
ct_tensor ct_triu(ct_tensor a, int64_t k) { CT_TENSOR(at::triu(a->t, k)); }
ct_tensor ct_flip(ct_tensor a, const int64_t *dims, int64_t ndim) { CT_TENSOR(at::flip(a->t, ints(dims, ndim))); }

// ---- linear algebra and neural-network ops ----
ct_tensor ct_matmul(ct_tensor a, ct_tensor b) { CT_TENSOR(at::matmul(a->t, b->t)); }
ct_tensor ct_bmm(ct_tensor a, ct_tensor b) { CT_TENSOR(at::bmm(a->t, b->t)); }
ct_tensor ct_baddbmm(ct_tensor self, ct_tensor b1, ct_tensor b2, double beta, double alpha) {
  CT_TENSOR(at::baddbmm(self->t, b1->t, b2->t, beta, alpha));
}
ct_tensor ct_linear(ct_tensor x, ct_tensor w, ct_tensor b) { CT_TENSOR(at::linear(x->t, w->t, opt(b))); }
ct_tensor ct_softmax(ct_tensor a, int64_t dim) { CT_TENSOR(at::softmax(a->t, dim)); }
ct_tensor ct_log_softmax(ct_tensor a, int64_t dim) { CT_TENSOR(at::log_softmax(a->t, dim)); }
ct_tensor ct_layer_norm(ct_tensor x, const int64_t *shape, int64_t ndim, ct_tensor w, ct_tensor b, double eps) {
  CT_TENSOR(at::layer_norm(x->t, ints(shape, ndim), opt(w), opt(b), eps));
}
ct_tensor ct_group_norm(ct_tensor x, int64_t groups, ct_tensor w, ct_tensor b, double eps) {
  CT_TENSOR(at::group_norm(x->t, groups, opt(w), opt(b), eps));
}
ct_tensor ct_conv2d(ct_tensor x, ct_tensor w, ct_tensor b, const int64_t *stride, const int64_t *padding,
                    const int64_t *dilation, int64_t groups) {
  CT_TENSOR(at::conv2d(x->t, w->t, opt(b), ints(stride, 2), ints(padding, 2), ints(dilation, 2), groups));
}
ct_tensor ct_conv_transpose2d(ct_tensor x, ct_tensor w, ct_tensor b, const int64_t *stride, const int64_t *padding,
                              const int64_t *output_padding, int64_t groups, const int64_t *dilation) {
  CT_TENSOR(at::conv_transpose2d(x->t, w->t, opt(b), ints(stride, 2), ints(padding, 2), ints(output_padding, 2),
                                 groups, ints(dilation, 2)));
}
ct_tensor ct_interpolate(ct_tensor x, int64_t out_h, int64_t out_w, int32_t mode, bool align_corners, double scale_h,
                         double scale_w) {
  CT_GUARD(nullptr, {
    std::vector<int64_t> size{out_h, out_w};
    std::optional<double> sh = scale_h > 0 ? std::optional<double>(scale_h) : std::nullopt;
    std::optional<double> sw = scale_w > 0 ? std::optional<double>(scale_w) : std::nullopt;
    if (x->t.dim() != 4) throw std::invalid_argument("interpolate expects a 4-D [N, C, H, W] tensor");
    if (mode == CT_NEAREST) return wrap(at::upsample_nearest2d(x->t, size, sh, sw));
    if (mode == CT_BILINEAR) return wrap(at::upsample_bilinear2d(x->t, size, align_corners, sh, sw));
    if (mode == CT_BICUBIC) return wrap(at::upsample_bicubic2d(x->t, size, align_corners, sh, sw));
    if (mode == CT_BILINEAR_AA) return wrap(at::_upsample_bilinear2d_aa(x->t, size, align_corners, sh, sw));
    if (mode == CT_BICUBIC_AA) return wrap(at::_upsample_bicubic2d_aa(x->t, size, align_corners, sh, sw));
    throw std::invalid_argument("unknown interpolation mode " + std::to_string(mode));
  });
}
ct_tensor ct_pad(ct_tensor x, const int64_t *pads, int64_t n, int32_t mode, double value) {
  CT_GUARD(nullptr, {
    static const char *modes[] = {"constant", "reflect", "replicate", "circular"};
    if (mode < 0 || mode > 3) throw std::invalid_argument("unknown pad mode " + std::to_string(mode));
    return wrap(at::pad(x->t, ints(pads, n), modes[mode],
                        mode == CT_PAD_CONSTANT ? std::optional<double>(value) : std::nullopt));
  });
}
ct_tensor ct_sdpa(ct_tensor q, ct_tensor k, ct_tensor v, ct_tensor mask, double dropout_p, bool is_causal,
                  double scale) {
  CT_TENSOR(at::scaled_dot_product_attention(q->t, k->t, v->t, opt(mask), dropout_p, is_causal,
                                             std::isnan(scale) ? std::nullopt : std::optional<double>(scale)));
}
ct_tensor ct_embedding(ct_tensor weight, ct_tensor indices, int64_t padding_idx) {
  CT_TENSOR(at::embedding(weight->t, indices->t, padding_idx));
}
ct_tensor ct_dropout(ct_tensor x, double p, bool train) { CT_TENSOR(at::dropout(x->t, p, train)); }
ct_tensor ct_mse_loss(ct_tensor a, ct_tensor b, int32_t reduction) {
  CT_TENSOR(at::mse_loss(a->t, b->t, reduction));
}
ct_tensor ct_cross_entropy(ct_tensor logits, ct_tensor target, ct_tensor weight, int32_t reduction,
                           int64_t ignore_index, double label_smoothing) {
  CT_TENSOR(at::cross_entropy_loss(logits->t, target->t, opt(weight), reduction, ignore_index, label_smoothing));
}

// ---- optimizers ----
int ct_fused_adamw_(const ct_tensor *params, const ct_tensor *grads, const ct_tensor *exp_avgs,
                    const ct_tensor *exp_avg_sqs, const ct_tensor *steps, int64_t n, double lr, double beta1,
                    double beta2, double weight_decay, double eps, bool maximize, ct_tensor grad_scale,
                    ct_tensor found_inf) {
  CT_STATUS({
    at::NoGradGuard ng;
    auto step_list = list(steps, n);
    // As torch.optim.AdamW(fused=True): the counts go up before the kernel reads them, and come down again where
    // found_inf says the update was skipped, so a skipped step leaves no trace.
    at::_foreach_add_(step_list, 1);
    at::_fused_adamw_(list(params, n), list(grads, n), list(exp_avgs, n), list(exp_avg_sqs, n), {}, step_list, lr,
                      beta1, beta2, weight_decay, eps, false, maximize, opt(grad_scale), opt(found_inf));
    if (found_inf != nullptr) {
      at::_foreach_sub_(step_list, std::vector<at::Tensor>(static_cast<size_t>(n), found_inf->t));
    }
  });
}
int ct_foreach_norm(const ct_tensor *ts, int64_t n, double ord, ct_tensor *out) {
  CT_STATUS({
    at::NoGradGuard ng;
    auto norms = at::_foreach_norm(list(ts, n), ord);
    for (int64_t i = 0; i < n; i++) out[i] = wrap(norms[static_cast<size_t>(i)]);
  });
}
int ct_foreach_mul_tensor_(const ct_tensor *ts, int64_t n, ct_tensor factor) {
  CT_STATUS({
    at::NoGradGuard ng;
    at::_foreach_mul_(list(ts, n), factor->t);
  });
}
int ct_foreach_lerp_(const ct_tensor *ts, const ct_tensor *ends, int64_t n, double weight) {
  CT_STATUS({
    at::NoGradGuard ng;
    at::_foreach_lerp_(list(ts, n), list(ends, n), weight);
  });
}
int ct_foreach_copy_(const ct_tensor *dst, const ct_tensor *src, int64_t n) {
  CT_STATUS({
    at::NoGradGuard ng;
    at::_foreach_copy_(list(dst, n), list(src, n));
  });
}
int ct_amp_unscale_(const ct_tensor *grads, int64_t n, ct_tensor found_inf, ct_tensor inv_scale) {
  CT_STATUS({
    at::NoGradGuard ng;
    at::_amp_foreach_non_finite_check_and_unscale_(list(grads, n), found_inf->t, inv_scale->t);
  });
}
int ct_amp_update_scale_(ct_tensor scale, ct_tensor growth_tracker, ct_tensor found_inf, double growth_factor,
                         double backoff_factor, int64_t growth_interval) {
  CT_STATUS({
    at::NoGradGuard ng;
    at::_amp_update_scale_(scale->t, growth_tracker->t, found_inf->t, growth_factor, backoff_factor, growth_interval);
  });
}
bool ct_fused_adamw_available(int32_t dev) { return dev == CT_CPU || dev == CT_CUDA; }

} // extern "C"
