// cpu_allocator.cpp — a caching CPU allocator for libtorch.
//
// PyTorch's default CPU allocator hands every tensor to malloc/free. Training allocates the same large activation
// and gradient buffers every step; glibc serves blocks that large with mmap and returns them with munmap, so each
// step page-faults its whole working set back in (measured on the benchmark DiT step: ~130k minor faults a step).
// This allocator keeps freed blocks of 64 KiB and more in size-class free lists and hands them out again, the way
// PyTorch's CUDA caching allocator does on the GPU. Smaller blocks go straight to malloc, which serves them well.
// Data pointers stay "simple" (data == context) and 64-byte aligned, as c10 expects.
#include "ctorch.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace {

constexpr size_t kHeader = 64;          // block size lives here; keeps the data 64-byte aligned
constexpr size_t kMinCached = 64 << 10; // smaller blocks are malloc's business

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void *>> free_blocks; // size class -> blocks (base pointers)
  size_t cached_bytes = 0;
  size_t limit_bytes = 0;
  std::atomic<bool> enabled{true};
};

// Never destroyed: tensors may still be freed by other static destructors at exit.
Cache &cache() {
  static Cache *c = new Cache();
  return *c;
}

// Bytes of live tensors (their size classes) and the most since the last reset: what `dit train --dry-run` reports.
std::atomic<int64_t> g_in_use{0};
std::atomic<int64_t> g_peak{0};

void count_allocation(size_t size) {
  int64_t now = g_in_use.fetch_add(int64_t(size), std::memory_order_relaxed) + int64_t(size);
  int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

// Four size classes per power of two, so a reused block wastes at most a quarter of its size.
size_t size_class(size_t n) {
  size_t top = size_t(1) << (63 - __builtin_clzll(n));
  size_t step = top >= 4 ? top / 4 : 1;
  return (n + step - 1) / step * step;
}

void release(void *base) { std::free(base); }

void trim_locked(Cache &c) {
  for (auto &entry : c.free_blocks)
    for (void *base : entry.second) release(base);
  c.free_blocks.clear();
  c.cached_bytes = 0;
}

void delete_block(void *data) {
  if (data == nullptr) return;
  void *base = static_cast<char *>(data) - kHeader;
  size_t size;
  std::memcpy(&size, base, sizeof(size));
  g_in_use.fetch_sub(int64_t(size), std::memory_order_relaxed);
  Cache &c = cache();
  if (size >= kMinCached && c.enabled.load(std::memory_order_relaxed)) {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.cached_bytes + size <= c.limit_bytes) {
      c.free_blocks[size].push_back(base);
      c.cached_bytes += size;
      return;
    }
  }
  release(base);
}

struct CachingCPUAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) override {
    if (n == 0) return {nullptr, nullptr, &delete_block, c10::Device(c10::DeviceType::CPU)};
    size_t size = n >= kMinCached ? size_class(n) : n;
    void *base = nullptr;
    Cache &c = cache();
    if (size >= kMinCached && c.enabled.load(std::memory_order_relaxed)) {
      std::lock_guard<std::mutex> lock(c.mutex);
      auto it = c.free_blocks.find(size);
      if (it != c.free_blocks.end() && !it->second.empty()) {
        base = it->second.back();
        it->second.pop_back();
        c.cached_bytes -= size;
      }
    }
    if (base == nullptr && posix_memalign(&base, 64, size + kHeader) != 0) {
      // Out of memory: give the cached blocks back and try once more.
      {
        std::lock_guard<std::mutex> lock(c.mutex);
        trim_locked(c);
      }
      if (posix_memalign(&base, 64, size + kHeader) != 0) base = nullptr;
      TORCH_CHECK(base != nullptr, "CPU allocator: not enough memory: you tried to allocate ", n, " bytes.");
    }
    std::memcpy(base, &size, sizeof(size));
    count_allocation(size);
    void *data = static_cast<char *>(base) + kHeader;
    return {data, data, &delete_block, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &delete_block; }
  void copy_data(void *dest, const void *src, std::size_t count) const override { default_copy_data(dest, src, count); }
};

// Never destroyed: c10 keeps pointing at it, and late frees may arrive during static destruction.
CachingCPUAllocator &g_allocator = *new CachingCPUAllocator();

// Installed when the program loads (after libc10's own registration, which lives in a shared library that is
// initialised first). DITKIT_CPU_CACHING=0 turns caching off; DITKIT_CPU_CACHE_MB caps what is kept
// (default: a quarter of physical memory).
struct Installer {
  Installer() {
    Cache &c = cache();
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t memory = pages > 0 && page > 0 ? size_t(pages) * size_t(page) : size_t(4) << 30;
    // A container's limit (cgroup v2) can be far below the host's RAM.
    if (FILE *f = std::fopen("/sys/fs/cgroup/memory.max", "r")) {
      unsigned long long limit = 0;
      if (std::fscanf(f, "%llu", &limit) == 1 && limit > 0 && limit < memory) memory = size_t(limit);
      std::fclose(f);
    }
    c.limit_bytes = memory / 4;
    if (const char *mb = std::getenv("DITKIT_CPU_CACHE_MB")) c.limit_bytes = size_t(std::strtoull(mb, nullptr, 10)) << 20;
    if (const char *on = std::getenv("DITKIT_CPU_CACHING")) c.enabled = std::strcmp(on, "0") != 0;
    c10::SetCPUAllocator(&g_allocator, /*priority=*/1);
  }
} g_installer;

} // namespace

extern "C" {
bool ct_cpu_caching_enabled(void) { return cache().enabled.load() && c10::GetCPUAllocator() == &g_allocator; }
void ct_cpu_caching_set_enabled(bool on) {
  Cache &c = cache();
  c.enabled = on;
  if (!on) {
    std::lock_guard<std::mutex> lock(c.mutex);
    trim_locked(c);
  }
}
int64_t ct_cpu_allocated_bytes(void) { return g_in_use.load(std::memory_order_relaxed); }
int64_t ct_cpu_peak_allocated_bytes(void) { return g_peak.load(std::memory_order_relaxed); }
void ct_cpu_reset_peak(void) { g_peak.store(g_in_use.load(std::memory_order_relaxed), std::memory_order_relaxed); }
int64_t ct_cpu_cache_bytes(void) {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return static_cast<int64_t>(c.cached_bytes);
}
void ct_cpu_cache_empty(void) {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  trim_locked(c);
}
}
