// distributed.cpp — c10d process groups for data-parallel training: a TCPStore rendezvous and a Gloo (CPU) or
// NCCL (CUDA) backend, with all-reduce, broadcast and barrier. Networking, transports and algorithms are all
// c10d's; this file only builds the objects and turns their exceptions into the shim's last error.
#include "shim.h"

// The wheel ships c10d's headers but not Gloo's; gloo-declarations/ declares the few Gloo types they name.
#define USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef CTORCH_WITH_NCCL
#define USE_C10D_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

struct ct_process_group_s {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
  int32_t device_index;
  bool nccl;
};

struct ct_work_s {
  c10::intrusive_ptr<c10d::Work> work;
  std::chrono::milliseconds timeout;
  // NCCL: wait through the stream (the current stream waits for the collective; the host goes on). A wait with a
  // timeout would block the host until the GPU finished; the process group's watchdog still enforces the timeout.
  bool stream_wait;
  // The tensors a collective works on stay alive until it has finished.
  std::vector<at::Tensor> tensors;
};

namespace {

bool is_loopback(const std::string &host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// Gloo binds one transport device per process. Like torch: GLOO_SOCKET_IFNAME names an interface; otherwise the
// host's own name, which on a single machine (a loopback master) is the loopback address.
std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string &master) {
  if (const char *ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0') {
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  }
  if (is_loopback(master)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

ct_work work(ct_process_group pg, c10::intrusive_ptr<c10d::Work> w, std::vector<at::Tensor> tensors) {
  return new ct_work_s{std::move(w), pg->timeout, pg->nccl, std::move(tensors)};
}

} // namespace

extern "C" {

bool ct_backend_available(int32_t backend) {
  if (backend == CT_BACKEND_GLOO) return true;
#ifdef CTORCH_WITH_NCCL
  if (backend == CT_BACKEND_NCCL) return true;
#endif
  return false;
}

ct_process_group ct_process_group_new(const char *master_addr, int32_t master_port, int32_t rank, int32_t world_size,
                                      int32_t backend, int32_t device_index, int64_t timeout_ms) {
  CT_GUARD(nullptr, {
    TORCH_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "rank ", rank, " is not in a world of size ",
                world_size);
    TORCH_CHECK(master_port > 0 && master_port < 65536, "master port ", master_port, " is not a TCP port");
    const auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(master_port);
    options.isServer = rank == 0;
    options.numWorkers = static_cast<std::size_t>(world_size);
    options.waitWorkers = true;
    options.timeout = timeout;
    const std::string master(master_addr);
    auto store = c10::make_intrusive<c10d::TCPStore>(master, options);
    c10::intrusive_ptr<c10d::Backend> group;
    if (backend == CT_BACKEND_GLOO) {
      auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
      gloo->devices.push_back(gloo_device(master));
      group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, gloo);
    } else if (backend == CT_BACKEND_NCCL) {
#ifdef CTORCH_WITH_NCCL
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_index));
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = timeout;
      group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world_size, nccl);
#else
      TORCH_CHECK(false, "this torch build has no NCCL (a CPU build): use the gloo backend");
#endif
    } else {
      TORCH_CHECK(false, "unknown backend code ", backend);
    }
    return new ct_process_group_s{store, group, timeout, device_index, backend == CT_BACKEND_NCCL};
  });
}

void ct_process_group_free(ct_process_group pg) { delete pg; }

ct_work ct_all_reduce(ct_process_group pg, ct_tensor t, int32_t op) {
  CT_GUARD(nullptr, {
    c10d::AllreduceOptions options;
    options.reduceOp = op == CT_REDUCE_MAX ? c10d::ReduceOp::MAX : c10d::ReduceOp::SUM;
    options.timeout = pg->timeout;
    std::vector<at::Tensor> tensors{t->t};
    return work(pg, pg->backend->allreduce(tensors, options), tensors);
  });
}

ct_work ct_broadcast(ct_process_group pg, ct_tensor t, int32_t root) {
  CT_GUARD(nullptr, {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    options.timeout = pg->timeout;
    std::vector<at::Tensor> tensors{t->t};
    return work(pg, pg->backend->broadcast(tensors, options), tensors);
  });
}

ct_work ct_barrier(ct_process_group pg) {
  CT_GUARD(nullptr, {
    c10d::BarrierOptions options;
    options.timeout = pg->timeout;
    if (pg->nccl) options.device_ids = {pg->device_index};
    return work(pg, pg->backend->barrier(options), {});
  });
}

int ct_work_wait(ct_work w) {
  std::unique_ptr<ct_work_s> owned(w);
  CT_STATUS({
    if (owned->stream_wait) {
      owned->work->wait();
    } else {
      owned->work->wait(owned->timeout);
    }
  });
}

} // extern "C"
