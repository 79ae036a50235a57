// fused_modulation.cpp — adaLN's two element-wise patterns, each one pass over the activations forward and one
// backward on the CPU: the modulation x·(1 + scale) + shift and the gated residual h + gate·y, with x, h, y of shape
// [B, N, C] and shift, scale, gate of [B, 1, C] (or [B, C]). Eager PyTorch runs each as two or three kernels forward
// and four or five backward, each a full pass over [B, N, C]. Anything else (another device or dtype, other shapes)
// runs the same arithmetic as ATen ops, so the result never depends on which path ran.
#include "shim.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <atomic>

namespace {

std::atomic<bool> enabled{true};

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// float32 CPU activations [B, N, C] with per-sample vectors of B·C elements.
bool fusable(const at::Tensor &x, const at::Tensor &a, const at::Tensor &b) {
  if (!enabled || !x.is_cpu() || x.scalar_type() != at::kFloat || x.dim() != 3) return false;
  for (const auto *v : {&a, &b}) {
    if (!v->is_cpu() || v->scalar_type() != at::kFloat) return false;
    const bool b1c = v->dim() == 3 && v->size(0) == x.size(0) && v->size(1) == 1 && v->size(2) == x.size(2);
    const bool bc = v->dim() == 2 && v->size(0) == x.size(0) && v->size(1) == x.size(2);
    if (!b1c && !bc) return false;
  }
  return true;
}

at::Tensor per_sample(const at::Tensor &v, int64_t B, int64_t C) { return v.reshape({B, C}).contiguous(); }

// out = x·(1 + scale) + shift, rounded as the separate kernels round (no fused multiply-add).
at::Tensor modulate_forward(const at::Tensor &x_, const at::Tensor &shift_, const at::Tensor &scale_) {
#pragma clang fp contract(off)
  const at::Tensor x = x_.contiguous();
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2);
  const at::Tensor shift = per_sample(shift_, B, C), scale = per_sample(scale_, B, C);
  at::Tensor out = at::empty_like(x);
  const float *xp = x.data_ptr<float>(), *hp = shift.data_ptr<float>(), *sp = scale.data_ptr<float>();
  float *op = out.data_ptr<float>();
  at::parallel_for(0, B * N, 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
      const float *xi = xp + r * C, *s = sp + (r / N) * C, *h = hp + (r / N) * C;
      float *o = op + r * C;
      for (int64_t c = 0; c < C; c++) {
        const float t = xi[c] * (1.0f + s[c]);
        o[c] = t + h[c];
      }
    }
  });
  return out;
}

// out = h + gate·y.
at::Tensor gated_forward(const at::Tensor &h_, const at::Tensor &gate_, const at::Tensor &y_) {
#pragma clang fp contract(off)
  const at::Tensor h = h_.contiguous(), y = y_.contiguous();
  const int64_t B = h.size(0), N = h.size(1), C = h.size(2);
  const at::Tensor gate = per_sample(gate_, B, C);
  at::Tensor out = at::empty_like(h);
  const float *hp = h.data_ptr<float>(), *yp = y.data_ptr<float>(), *gp = gate.data_ptr<float>();
  float *op = out.data_ptr<float>();
  at::parallel_for(0, B * N, 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
      const float *hi = hp + r * C, *yi = yp + r * C, *g = gp + (r / N) * C;
      float *o = op + r * C;
      for (int64_t c = 0; c < C; c++) {
        const float t = g[c] * yi[c];
        o[c] = hi[c] + t;
      }
    }
  });
  return out;
}

// One pass over the upstream gradient g and the saved activation a, per sample: da = g·v (v = 1 + scale, or the
// gate) and the per-sample sums Σ_n g·a and (for the shift) Σ_n g.
void backward_pass(const at::Tensor &g, const at::Tensor &a, const at::Tensor &v, bool plus_one, at::Tensor &da,
                   at::Tensor &sum_ga, at::Tensor *sum_g) {
  const int64_t B = g.size(0), N = g.size(1), C = g.size(2);
  const float *gp = g.data_ptr<float>(), *ap = a.data_ptr<float>(), *vp = v.data_ptr<float>();
  float *dp = da.data_ptr<float>(), *sp = sum_ga.data_ptr<float>();
  float *tp = sum_g ? sum_g->data_ptr<float>() : nullptr;
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> acc_ga(static_cast<size_t>(C)), acc_g(static_cast<size_t>(C));
    for (int64_t b = begin; b < end; b++) {
      std::fill(acc_ga.begin(), acc_ga.end(), 0.0f);
      std::fill(acc_g.begin(), acc_g.end(), 0.0f);
      const float *vb = vp + b * C;
      for (int64_t n = 0; n < N; n++) {
        const int64_t r = b * N + n;
        const float *gi = gp + r * C, *ai = ap + r * C;
        float *di = dp + r * C;
        for (int64_t c = 0; c < C; c++) {
          const float m = plus_one ? 1.0f + vb[c] : vb[c];
          di[c] = gi[c] * m;
          acc_ga[c] += gi[c] * ai[c];
          acc_g[c] += gi[c];
        }
      }
      std::copy(acc_ga.begin(), acc_ga.end(), sp + b * C);
      if (tp) std::copy(acc_g.begin(), acc_g.end(), tp + b * C);
    }
  });
}

struct Modulate : public torch::autograd::Function<Modulate> {
  static at::Tensor forward(AutogradContext *ctx, const at::Tensor &x, const at::Tensor &shift, const at::Tensor &scale) {
    ctx->save_for_backward({x.contiguous(), per_sample(scale, x.size(0), x.size(2))});
    ctx->saved_data["shift_shape"] = shift.sizes().vec();
    ctx->saved_data["scale_shape"] = scale.sizes().vec();
    return modulate_forward(x, shift, scale);
  }
  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &scale = saved[1];
    const at::Tensor g = grads[0].contiguous();
    at::Tensor dx = at::empty_like(x), dscale = at::empty_like(scale), dshift = at::empty_like(scale);
    backward_pass(g, x, scale, true, dx, dscale, &dshift);
    return {dx, dshift.reshape(ctx->saved_data["shift_shape"].toIntVector()),
            dscale.reshape(ctx->saved_data["scale_shape"].toIntVector())};
  }
};

struct GatedResidual : public torch::autograd::Function<GatedResidual> {
  static at::Tensor forward(AutogradContext *ctx, const at::Tensor &h, const at::Tensor &gate, const at::Tensor &y) {
    ctx->save_for_backward({y.contiguous(), per_sample(gate, h.size(0), h.size(2))});
    ctx->saved_data["gate_shape"] = gate.sizes().vec();
    return gated_forward(h, gate, y);
  }
  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &y = saved[0], &gate = saved[1];
    const at::Tensor g = grads[0].contiguous();
    at::Tensor dy = at::empty_like(y), dgate = at::empty_like(gate);
    backward_pass(g, y, gate, false, dy, dgate, nullptr);
    return {g, dgate.reshape(ctx->saved_data["gate_shape"].toIntVector()), dy};
  }
};

} // namespace

extern "C" {

ct_tensor ct_modulate(ct_tensor x, ct_tensor shift, ct_tensor scale) {
  CT_TENSOR(fusable(x->t, shift->t, scale->t) ? Modulate::apply(x->t, shift->t, scale->t)
                                              : x->t * (1 + scale->t) + shift->t);
}

ct_tensor ct_gated_residual(ct_tensor h, ct_tensor gate, ct_tensor y) {
  CT_TENSOR(fusable(h->t, gate->t, gate->t) && y->t.sizes() == h->t.sizes() && y->t.scalar_type() == at::kFloat &&
                    y->t.is_cpu()
                ? GatedResidual::apply(h->t, gate->t, y->t)
                : h->t + gate->t * y->t);
}

void ct_fused_modulation_set_enabled(bool on) { enabled = on; }
bool ct_fused_modulation_enabled(void) { return enabled; }

} // extern "C"
