// Data-parallel training across processes with PyTorch's c10d: the torchrun environment contract,
// the process group (Gloo; NCCL where LibTorch has it), parameter broadcast, bucketed gradient
// averaging during backward, and DistributedSampler-style sharding. Not the launcher
// (lib/train/launcher.h) and not the loop (lib/train/trainer.cpp calls these hooks).
//
//   Distributed dist = Distributed::from_environment(options, device);  // world of 1 without env
//   dist.broadcast_module(model);               // rank 0's weights everywhere
//   dist.attach_gradients(model.parameters());  // average gradients in buckets during backward
//   dist.sync_next_backward(last_micro_step);   // accumulation: communicate on the last only
//   loss.backward();
//   dist.finish_gradient_sync();                // gradients are now the mean over all ranks
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "lib/schedule/batch_order.h"

namespace torch::nn {
class Module;
}

namespace ftune {

// The variables torchrun sets for each worker (and `ftune train --nproc-per-node` does too).
struct DistributedEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // Under torchrun's static rendezvous (TORCHELASTIC_USE_AGENT_STORE=True) the agent serves the
  // TCPStore: rank 0 connects to it as a client instead of serving it.
  bool external_store = false;
  int restart_count = 0;  // TORCHELASTIC_RESTART_COUNT: keeps a restarted group's keys apart
};

// Parses RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
// TORCHELASTIC_USE_AGENT_STORE and TORCHELASTIC_RESTART_COUNT from `env`. nullopt when WORLD_SIZE
// is unset; Error naming the variable when one is missing or malformed.
std::optional<DistributedEnv> parse_distributed_env(const std::map<std::string, std::string>& env);
// The same from this process's environment.
std::optional<DistributedEnv> read_distributed_env();

struct DistributedOptions {
  std::string backend;             // gloo | nccl; empty: nccl on CUDA, gloo on CPU
  int64_t timeout_seconds = 1800;  // per collective and for connecting; a dead peer fails a rank
};

// DistributedSampler(shuffle, drop_last=False) over the epoch's order: the global order is
// make_epoch_batches with batch size `batch_size x world_size` (so --group-by-length groups
// global batches), padded by repeating its start to a multiple of `world_size`; rank r takes
// positions r, r + world_size, ... and cuts them into batches of `options.batch_size`. Every rank
// gets the same number of equally sized batches, and with world_size 1 this is make_epoch_batches.
std::vector<std::vector<size_t>> make_rank_epoch_batches(const std::vector<size_t>& lengths,
                                                         const BatchOrderOptions& options,
                                                         int64_t epoch, int rank, int world_size);
// How many batches make_rank_epoch_batches returns for `examples` examples.
int64_t count_rank_batches(size_t examples, size_t batch_size, int world_size);

// A TCPStore server on a port the kernel picks while binding it, for `--nproc-per-node` on one
// machine: the launcher serves the rendezvous and its ranks connect to it as clients
// (TORCHELASTIC_USE_AGENT_STORE=True, as under torchrun's agent). Choosing a free port first and
// letting rank 0 bind it later left a window in which another process could take it.
class LocalStoreServer {
 public:
  explicit LocalStoreServer(const std::string& host);
  ~LocalStoreServer();
  LocalStoreServer(const LocalStoreServer&) = delete;
  LocalStoreServer& operator=(const LocalStoreServer&) = delete;
  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

class Distributed {
 public:
  // A process group when the environment describes a launch with WORLD_SIZE > 1 (or 1 with a
  // backend named in `options`), else a world of one in which every call below is a cheap no-op.
  // `device` picks the default backend: NCCL for CUDA where LibTorch has it, else Gloo.
  static Distributed from_environment(const DistributedOptions& options, const c10::Device& device);
  Distributed();  // a world of one
  Distributed(Distributed&&) noexcept;
  Distributed& operator=(Distributed&&) noexcept;
  ~Distributed();

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  bool is_main() const { return rank_ == 0; }
  // cuda:(LOCAL_RANK mod GPUs) for a CUDA `device` in a distributed run; `device` otherwise.
  c10::Device local_device(const c10::Device& device) const;

  // Copies rank 0's parameters and buffers into every rank's module (DDP's start).
  void broadcast_module(torch::nn::Module& module);
  // Registers the gradient hooks: buckets of about 25 MiB in reverse parameter order, each
  // all-reduced as soon as all its gradients are final, while backward goes on.
  void attach_gradients(const std::vector<at::Tensor>& parameters);
  // Whether the next backward launches all-reduces as buckets fill (false on the micro-steps
  // of gradient accumulation before the last, which accumulate locally).
  void sync_next_backward(bool enabled);
  // Launches the buckets still pending, waits for all, and leaves every gradient equal to the
  // mean over the ranks.
  void finish_gradient_sync();

  double mean_across_ranks(double value);
  std::vector<double> sum_across_ranks(const std::vector<double>& values);
  // Every rank's rows (N_r, F) (N_r may differ by rank), concatenated in rank order, on every
  // rank: evaluation shards coming together.
  at::Tensor gather_rows(const at::Tensor& rows);
  int64_t sum_across_ranks(int64_t value);
  int max_across_ranks(int value);
  // Rank 0's `value` on every rank (an early-stopping decision).
  bool broadcast_from_main(bool value);
  void barrier();

 private:
  struct Group;
  class GradientBuckets;
  std::unique_ptr<Group> group_;
  std::unique_ptr<GradientBuckets> buckets_;
  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
};

}  // namespace ftune
