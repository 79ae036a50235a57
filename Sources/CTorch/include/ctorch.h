/*
 * ctorch.h — a pure C view of libtorch's ATen for Swift.
 *
 * Why C and not Swift/C++ interop: a C++ exception cannot cross into Swift, so every function here catches
 * torch's exceptions and reports them through a per-thread "last error" instead. Conventions:
 *   - functions returning ct_tensor return NULL on failure (ct_last_error() then holds torch's message);
 *   - functions returning int return 0 on success and -1 on failure;
 *   - every returned ct_tensor is a new owned handle: release it with ct_free (ct_live_tensors counts them);
 *   - optional tensor arguments accept NULL.
 */
#ifndef CTORCH_H
#define CTORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_tensor_s *ct_tensor;
typedef struct ct_generator_s *ct_generator;

/* dtypes (stable codes shared with Swift's DType) */
enum { CT_F32 = 0, CT_F64 = 1, CT_F16 = 2, CT_BF16 = 3, CT_I64 = 4, CT_I32 = 5, CT_U8 = 6, CT_BOOL = 7, CT_I8 = 8, CT_I16 = 9 };
/* device types */
enum { CT_CPU = 0, CT_CUDA = 1, CT_META = 2 };  /* meta: shapes and dtypes only, no data (device-discipline tests) */

/* ---- errors, lifetime, runtime ---- */
const char *ct_last_error(void);                  /* NULL when the last call succeeded */
void ct_clear_error(void);
void ct_free(ct_tensor t);
int64_t ct_live_tensors(void);                    /* handles created and not yet freed (leak tests) */
const char *ct_torch_version(void);
bool ct_cuda_built(void);                          /* libtorch_cuda is loaded (a CUDA build of torch) */
bool ct_cuda_available(void);
int64_t ct_cuda_device_count(void);
void ct_line_buffered_stdout(void);             /* progress lines reach logs and pipes as they happen */
void ct_set_num_threads(int32_t n);
int32_t ct_get_num_threads(void);
/* The caching CPU allocator (cpu_allocator.cpp): freed blocks of 64 KiB and more are kept for reuse. */
bool ct_cpu_caching_enabled(void);
void ct_cpu_caching_set_enabled(bool on);
int64_t ct_cpu_cache_bytes(void);                 /* bytes held for reuse */
int64_t ct_cpu_allocated_bytes(void);             /* bytes of live CPU tensors (through this allocator) */
int64_t ct_cpu_peak_allocated_bytes(void);        /* the most live at once since ct_cpu_reset_peak */
void ct_cpu_reset_peak(void);
/* CUDA's caching allocator: bytes of live tensors, and the peaks of live and reserved bytes since the last reset. */
int ct_cuda_memory_stats(int32_t index, int64_t *allocated, int64_t *peak_allocated, int64_t *peak_reserved);
int ct_cuda_reset_peak(int32_t index);
void ct_cpu_cache_empty(void);                    /* returns them to the system */
/* op recording (this thread): each dispatched ATen op as "name\tinput dtypes" and, when it returns,
   "->name\toutput dtypes" ("-" for a non-tensor argument); stop returns the lines, free with ct_free_string */
int ct_op_recording_start(void);
char *ct_op_recording_stop(void);
/* op counting (this thread and the autograd threads it starts): ATen ops dispatched, and host synchronisations:
   scalar reads (_local_scalar_dense), blocking copies between host and device, data-dependent shapes (nonzero, ...),
   and host reads of tensor data through this shim (ct_copy_to_buffer). stop fills the counts (calls: the ops called
   from outside any other op) and returns the syncs, one "name\treason" line each (free with ct_free_string) */
int ct_op_counting_start(void);
char *ct_op_counting_stop(int64_t *ops, int64_t *calls, int64_t *syncs);
void ct_op_counting_host_side(bool on);           /* reads of host-made CPU tensors (a CPU generator's draw) */
char *ct_describe(ct_tensor t);                   /* torch's printout; free with ct_free_string */
void ct_free_string(char *s);

/* ---- metadata and raw data ---- */
int32_t ct_dtype(ct_tensor t);
int32_t ct_device_type(ct_tensor t);
int32_t ct_device_index(ct_tensor t);
int64_t ct_dim(ct_tensor t);
void ct_sizes(ct_tensor t, int64_t *out);
void ct_strides(ct_tensor t, int64_t *out);
int64_t ct_numel(ct_tensor t);
bool ct_is_contiguous(ct_tensor t);
void *ct_data_ptr(ct_tensor t);                   /* start of a CPU tensor's data, NULL otherwise */
int ct_copy_to_buffer(ct_tensor t, void *dst, size_t nbytes); /* contiguous CPU bytes of t */
int ct_item(ct_tensor t, double *out);
bool ct_same_storage(ct_tensor a, ct_tensor b);

/* ---- creation ---- */
ct_tensor ct_from_buffer(const void *data, const int64_t *shape, int64_t ndim, int32_t dtype);
ct_tensor ct_empty(const int64_t *shape, int64_t ndim, int32_t dtype, int32_t dev, int32_t index);
ct_tensor ct_full(const int64_t *shape, int64_t ndim, double value, int32_t dtype, int32_t dev, int32_t index);
ct_tensor ct_full_like(ct_tensor a, double value);
ct_tensor ct_arange(double start, double end, double step, int32_t dtype, int32_t dev, int32_t index);
ct_tensor ct_linspace(double start, double end, int64_t steps, int32_t dtype, int32_t dev, int32_t index);
ct_tensor ct_randn(const int64_t *shape, int64_t ndim, int32_t dtype, int32_t dev, int32_t index, ct_generator g);
ct_tensor ct_rand(const int64_t *shape, int64_t ndim, int32_t dtype, int32_t dev, int32_t index, ct_generator g);
ct_tensor ct_randint(int64_t low, int64_t high, const int64_t *shape, int64_t ndim, int32_t dtype, int32_t dev,
                     int32_t index, ct_generator g);
ct_tensor ct_randperm(int64_t n, ct_generator g);
int ct_uniform_(ct_tensor t, double from, double to, ct_generator g);
int ct_normal_(ct_tensor t, double mean, double std, ct_generator g);

/* ---- RNG ---- */
void ct_manual_seed(uint64_t seed);               /* CPU and every CUDA device */
ct_generator ct_generator_new(int32_t dev, int32_t index, uint64_t seed);
void ct_generator_free(ct_generator g);
ct_tensor ct_rng_get_state(ct_generator g);       /* g NULL: the default CPU generator; a uint8 tensor */
/* The default generator of CUDA device `index` (what randn on that device draws from); fails without CUDA. */
ct_tensor ct_cuda_rng_get_state(int32_t index);
int ct_cuda_rng_set_state(int32_t index, ct_tensor state);
int ct_rng_set_state(ct_generator g, ct_tensor state);

/* ---- grad mode, autocast ---- */
bool ct_grad_enabled(void);
void ct_set_grad_enabled(bool on);
bool ct_autocast_enabled(int32_t dev);
int32_t ct_autocast_dtype(int32_t dev);
int ct_autocast_set(int32_t dev, bool enabled, int32_t dtype);
void ct_autocast_increment_nesting(void);
void ct_autocast_decrement_nesting(void); /* clears autocast's cast cache when leaving the outermost scope */

/* ---- autograd ---- */
bool ct_requires_grad(ct_tensor t);
int ct_set_requires_grad(ct_tensor t, bool on);
ct_tensor ct_grad(ct_tensor t);                   /* NULL and no error: no gradient yet */
int ct_set_grad(ct_tensor t, ct_tensor g);        /* g NULL clears it */
int ct_backward(ct_tensor t, ct_tensor grad, bool retain_graph);
bool ct_is_leaf(ct_tensor t);
ct_tensor ct_detach(ct_tensor t);

/* ---- element-wise ---- */
enum {
  CT_NEG, CT_EXP, CT_LOG, CT_SQRT, CT_RSQRT, CT_ABS, CT_SIN, CT_COS, CT_TANH, CT_SIGMOID, CT_RELU, CT_SILU,
  CT_GELU, CT_GELU_TANH, CT_QUICK_GELU, CT_SQUARE, CT_RECIPROCAL, CT_FLOOR, CT_CEIL, CT_ROUND, CT_SIGN,
  CT_LOGICAL_NOT, CT_ISFINITE, CT_ISNAN, CT_LOG1P, CT_EXPM1, CT_ERF
};
ct_tensor ct_unary(int32_t op, ct_tensor a);
enum {
  CT_ADD, CT_SUB, CT_MUL, CT_DIV, CT_POW, CT_MAXIMUM, CT_MINIMUM, CT_EQ, CT_NE, CT_LT, CT_LE, CT_GT, CT_GE,
  CT_LOGICAL_AND, CT_LOGICAL_OR, CT_REMAINDER, CT_ATAN2, CT_RSUB, CT_RDIV, CT_RPOW
};
ct_tensor ct_binary(int32_t op, ct_tensor a, ct_tensor b);
ct_tensor ct_binary_scalar(int32_t op, ct_tensor a, double s); /* a op s; CT_RSUB/RDIV/RPOW: s op a */
int ct_binary_(int32_t op, ct_tensor a, ct_tensor b);           /* in place: add, sub, mul, div only */
int ct_binary_scalar_(int32_t op, ct_tensor a, double s);
int ct_copy_(ct_tensor dst, ct_tensor src);
int ct_fill_(ct_tensor t, double value);
int ct_zero_(ct_tensor t);
int ct_lerp_(ct_tensor a, ct_tensor end, double weight);
int ct_addcmul_(ct_tensor a, ct_tensor t1, ct_tensor t2, double value);
int ct_addcdiv_(ct_tensor a, ct_tensor t1, ct_tensor t2, double value);
ct_tensor ct_where(ct_tensor cond, ct_tensor a, ct_tensor b);
ct_tensor ct_clamp(ct_tensor a, double lo, double hi, bool has_lo, bool has_hi);
ct_tensor ct_masked_fill(ct_tensor a, ct_tensor mask, double value);
ct_tensor ct_lerp(ct_tensor a, ct_tensor end, ct_tensor weight);
ct_tensor ct_addcmul(ct_tensor a, ct_tensor t1, ct_tensor t2, double value); /* a + value·t1·t2, one kernel */

/* ---- reductions (ndim == 0 reduces over every dimension) ---- */
enum { CT_SUM, CT_MEAN, CT_AMAX, CT_AMIN, CT_PROD, CT_LOGSUMEXP, CT_ALL, CT_ANY };
ct_tensor ct_reduce(int32_t op, ct_tensor a, const int64_t *dims, int64_t ndim, bool keepdim);
ct_tensor ct_var(ct_tensor a, const int64_t *dims, int64_t ndim, double correction, bool keepdim);
int ct_max_dim(ct_tensor a, int64_t dim, bool keepdim, ct_tensor *values, ct_tensor *indices);
ct_tensor ct_argmax(ct_tensor a, int64_t dim, bool has_dim, bool keepdim);
ct_tensor ct_vector_norm(ct_tensor a, double ord);
ct_tensor ct_cumsum(ct_tensor a, int64_t dim);
ct_tensor ct_cumprod(ct_tensor a, int64_t dim);
ct_tensor ct_quantile(ct_tensor a, double q, int64_t dim, bool keepdim); /* linear interpolation */

/* ---- conversion, shape and indexing ---- */
ct_tensor ct_to(ct_tensor a, int32_t dtype, int32_t dev, int32_t index); /* -1 keeps dtype / device */
/* to another device without waiting: from pinned memory the host goes on at once (torch's non_blocking=True) */
ct_tensor ct_to_non_blocking(ct_tensor a, int32_t dev, int32_t index);
ct_tensor ct_pin_memory(ct_tensor a);             /* a page-locked copy (needs a CUDA build and driver) */
bool ct_is_pinned(ct_tensor a);
ct_tensor ct_clone(ct_tensor a);
ct_tensor ct_contiguous(ct_tensor a);
ct_tensor ct_alias(ct_tensor a);                  /* a new handle to the same tensor */
int ct_set_data(ct_tensor t, ct_tensor data);     /* t now holds data's storage, dtype and device (in place) */
uint64_t ct_impl_id(ct_tensor t);                 /* identity of the underlying tensor (for de-duplication) */
ct_tensor ct_reshape(ct_tensor a, const int64_t *shape, int64_t ndim);
ct_tensor ct_view(ct_tensor a, const int64_t *shape, int64_t ndim);
ct_tensor ct_expand(ct_tensor a, const int64_t *shape, int64_t ndim);
ct_tensor ct_repeat(ct_tensor a, const int64_t *repeats, int64_t ndim);
ct_tensor ct_permute(ct_tensor a, const int64_t *dims, int64_t ndim);
ct_tensor ct_transpose(ct_tensor a, int64_t d0, int64_t d1);
ct_tensor ct_squeeze(ct_tensor a, int64_t dim);
ct_tensor ct_unsqueeze(ct_tensor a, int64_t dim);
ct_tensor ct_flatten(ct_tensor a, int64_t start, int64_t end);
ct_tensor ct_cat(const ct_tensor *ts, int64_t n, int64_t dim);
ct_tensor ct_stack(const ct_tensor *ts, int64_t n, int64_t dim);
/* out must hold `chunks` handles; returns how many were written, -1 on failure */
int64_t ct_chunk(ct_tensor a, int64_t chunks, int64_t dim, ct_tensor *out);
int64_t ct_split(ct_tensor a, const int64_t *sizes, int64_t n, int64_t dim, ct_tensor *out);
ct_tensor ct_slice(ct_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step);
ct_tensor ct_select(ct_tensor a, int64_t dim, int64_t index);
ct_tensor ct_index_select(ct_tensor a, int64_t dim, ct_tensor index);
ct_tensor ct_gather(ct_tensor a, int64_t dim, ct_tensor index);
ct_tensor ct_tril(ct_tensor a, int64_t k);
ct_tensor ct_triu(ct_tensor a, int64_t k);
ct_tensor ct_flip(ct_tensor a, const int64_t *dims, int64_t ndim);

/* ---- linear algebra and neural-network ops ---- */
ct_tensor ct_matmul(ct_tensor a, ct_tensor b);
ct_tensor ct_bmm(ct_tensor a, ct_tensor b);
ct_tensor ct_baddbmm(ct_tensor self, ct_tensor b1, ct_tensor b2, double beta, double alpha);
ct_tensor ct_linear(ct_tensor x, ct_tensor w, ct_tensor b);
ct_tensor ct_softmax(ct_tensor a, int64_t dim);
ct_tensor ct_log_softmax(ct_tensor a, int64_t dim);
ct_tensor ct_layer_norm(ct_tensor x, const int64_t *shape, int64_t ndim, ct_tensor w, ct_tensor b, double eps);
ct_tensor ct_group_norm(ct_tensor x, int64_t groups, ct_tensor w, ct_tensor b, double eps);
ct_tensor ct_conv2d(ct_tensor x, ct_tensor w, ct_tensor b, const int64_t *stride, const int64_t *padding,
                    const int64_t *dilation, int64_t groups);
ct_tensor ct_conv_transpose2d(ct_tensor x, ct_tensor w, ct_tensor b, const int64_t *stride, const int64_t *padding,
                              const int64_t *output_padding, int64_t groups, const int64_t *dilation);
/* *_AA: antialiased downsampling (PyTorch's antialias=True, which follows PIL's resize) */
enum { CT_NEAREST = 0, CT_BILINEAR = 1, CT_BICUBIC = 2, CT_BILINEAR_AA = 3, CT_BICUBIC_AA = 4 };
/* scale_h/scale_w <= 0: derived from the sizes (PyTorch's `size=`); > 0: PyTorch's `scale_factor=` */
ct_tensor ct_interpolate(ct_tensor x, int64_t out_h, int64_t out_w, int32_t mode, bool align_corners, double scale_h,
                         double scale_w);
enum { CT_PAD_CONSTANT = 0, CT_PAD_REFLECT = 1, CT_PAD_REPLICATE = 2, CT_PAD_CIRCULAR = 3 };
ct_tensor ct_pad(ct_tensor x, const int64_t *pads, int64_t n, int32_t mode, double value);
/* scale NaN: 1/sqrt(head_dim) */
ct_tensor ct_sdpa(ct_tensor q, ct_tensor k, ct_tensor v, ct_tensor mask, double dropout_p, bool is_causal,
                  double scale);
ct_tensor ct_embedding(ct_tensor weight, ct_tensor indices, int64_t padding_idx);
ct_tensor ct_dropout(ct_tensor x, double p, bool train);
enum { CT_REDUCTION_NONE = 0, CT_REDUCTION_MEAN = 1, CT_REDUCTION_SUM = 2 };
ct_tensor ct_mse_loss(ct_tensor a, ct_tensor b, int32_t reduction);
ct_tensor ct_cross_entropy(ct_tensor logits, ct_tensor target, ct_tensor weight, int32_t reduction,
                           int64_t ignore_index, double label_smoothing);

/* ---- optimizers: the whole tail of a training step on the device, no value read by the host ---- */
/* torch.optim.AdamW(fused=True) over n parameters; steps are float32 scalar tensors, incremented here before the
 * kernel reads them. grad_scale (NULL: none) divides the gradients first; found_inf (NULL: none), a float32 scalar on
 * the parameters' device, skips the update where it is nonzero (the steps are decremented again), as GradScaler.step
 * does with a fused optimizer */
int ct_fused_adamw_(const ct_tensor *params, const ct_tensor *grads, const ct_tensor *exp_avgs,
                    const ct_tensor *exp_avg_sqs, const ct_tensor *steps, int64_t n, double lr, double beta1,
                    double beta2, double weight_decay, double eps, bool maximize, ct_tensor grad_scale,
                    ct_tensor found_inf);
/* multi-tensor kernels (torch._foreach_*): out receives n new handles */
int ct_foreach_norm(const ct_tensor *ts, int64_t n, double ord, ct_tensor *out);
int ct_foreach_mul_tensor_(const ct_tensor *ts, int64_t n, ct_tensor factor);     /* factor: a scalar tensor */
int ct_foreach_lerp_(const ct_tensor *ts, const ct_tensor *ends, int64_t n, double weight);
int ct_foreach_copy_(const ct_tensor *dst, const ct_tensor *src, int64_t n);
/* GradScaler's kernels: gradients × inv_scale, found_inf set to 1 where one holds inf or NaN; the scale and growth
 * tracker updated from found_inf (torch._amp_update_scale_) */
int ct_amp_unscale_(const ct_tensor *grads, int64_t n, ct_tensor found_inf, ct_tensor inv_scale);
int ct_amp_update_scale_(ct_tensor scale, ct_tensor growth_tracker, ct_tensor found_inf, double growth_factor,
                         double backoff_factor, int64_t growth_interval);
bool ct_fused_adamw_available(int32_t dev);

/* ---- c10d: process groups for data-parallel training (distributed.cpp) ----
 * Rendezvous is a c10d TCPStore that rank 0 hosts at master_addr:master_port; the collectives are c10d's Gloo
 * (CPU) or NCCL (CUDA, when the torch build has it). Collectives run asynchronously and return a ct_work to wait on.
 * Every failure (a peer gone, a timeout) comes back as the last error with c10d's message. */
typedef struct ct_process_group_s *ct_process_group;
typedef struct ct_work_s *ct_work;
enum { CT_BACKEND_GLOO = 0, CT_BACKEND_NCCL = 1 };
enum { CT_REDUCE_SUM = 0, CT_REDUCE_MAX = 1 };
bool ct_backend_available(int32_t backend);
ct_process_group ct_process_group_new(const char *master_addr, int32_t master_port, int32_t rank, int32_t world_size,
                                      int32_t backend, int32_t device_index, int64_t timeout_ms);
void ct_process_group_free(ct_process_group pg);
ct_work ct_all_reduce(ct_process_group pg, ct_tensor t, int32_t op);  /* in place */
ct_work ct_broadcast(ct_process_group pg, ct_tensor t, int32_t root);  /* in place */
ct_work ct_barrier(ct_process_group pg);
int ct_work_wait(ct_work w);                      /* waits, then frees w (also when it failed) */

#ifdef __cplusplus
}
#endif
#endif
