// c10d process group setup and the collectives the trainer needs. Gradient averaging follows
// DistributedDataParallel's reducer (torch/csrc/distributed/c10d/reducer.cpp): a post hook on
// each parameter's AccumulateGrad node marks its gradient final; buckets are launched strictly in
// order so that every rank issues the same collectives in the same sequence.
#include "lib/train/distributed.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>
#ifdef USE_C10D_NCCL  // defined by lib/CMakeLists.txt when this LibTorch has NCCL and nccl.h
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "util/error.h"

namespace ftune {
namespace {

constexpr size_t kBucketBytes = 25 * 1024 * 1024;  // DDP's bucket_cap_mb default

const char* const kEnvNames[] = {"RANK",
                                 "WORLD_SIZE",
                                 "LOCAL_RANK",
                                 "LOCAL_WORLD_SIZE",
                                 "MASTER_ADDR",
                                 "MASTER_PORT",
                                 "TORCHELASTIC_USE_AGENT_STORE",
                                 "TORCHELASTIC_RESTART_COUNT"};

const char* const kEnvHint =
    "hint: start ranks with `ftune train --nproc-per-node N ...` or torchrun, which set RANK, "
    "WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT";

int parse_env_int(const std::map<std::string, std::string>& env, const std::string& name,
                  std::optional<int> fallback) {
  const auto it = env.find(name);
  if (it == env.end()) {
    if (fallback) return *fallback;
    throw Error(
        fmt::format("reading the distributed environment: {} is not set; {}", name, kEnvHint));
  }
  try {
    size_t used = 0;
    const int value = std::stoi(it->second, &used);
    if (used == it->second.size()) return value;
  } catch (const std::exception&) {
  }
  throw Error(fmt::format("reading the distributed environment: {} '{}': expected an integer; {}",
                          name,
                          it->second,
                          kEnvHint));
}

std::string describe_exception(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  return e.what();
}

bool is_loopback(const std::string& address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

}  // namespace

std::optional<DistributedEnv> parse_distributed_env(const std::map<std::string, std::string>& env) {
  if (env.find("WORLD_SIZE") == env.end()) return std::nullopt;
  DistributedEnv d;
  d.world_size = parse_env_int(env, "WORLD_SIZE", std::nullopt);
  d.rank = parse_env_int(env, "RANK", std::nullopt);
  d.local_rank = parse_env_int(env, "LOCAL_RANK", d.rank);
  d.local_world_size = parse_env_int(env, "LOCAL_WORLD_SIZE", d.world_size);
  d.master_port = parse_env_int(env, "MASTER_PORT", std::nullopt);
  d.restart_count = parse_env_int(env, "TORCHELASTIC_RESTART_COUNT", 0);
  const auto addr = env.find("MASTER_ADDR");
  if (addr == env.end() || addr->second.empty()) {
    throw Error(
        fmt::format("reading the distributed environment: MASTER_ADDR is not set; {}", kEnvHint));
  }
  d.master_addr = addr->second;
  // As torch.distributed.rendezvous._create_c10d_store: "True" under torchrun's static
  // rendezvous (one node, or --master-addr), where the agent already serves MASTER_PORT.
  const auto agent_store = env.find("TORCHELASTIC_USE_AGENT_STORE");
  d.external_store = agent_store != env.end() && agent_store->second == "True";
  if (d.world_size < 1 || d.rank < 0 || d.rank >= d.world_size) {
    throw Error(
        fmt::format("reading the distributed environment: RANK {} with WORLD_SIZE {}: "
                    "expected 0 <= RANK < WORLD_SIZE; {}",
                    d.rank,
                    d.world_size,
                    kEnvHint));
  }
  if (d.local_rank < 0 || d.master_port <= 0 || d.master_port > 65535) {
    throw Error(
        fmt::format("reading the distributed environment: LOCAL_RANK {} / MASTER_PORT {}: "
                    "expected LOCAL_RANK >= 0 and a port in 1..65535; {}",
                    d.local_rank,
                    d.master_port,
                    kEnvHint));
  }
  return d;
}

std::optional<DistributedEnv> read_distributed_env() {
  std::map<std::string, std::string> env;
  for (const char* name : kEnvNames) {
    if (const char* value = std::getenv(name)) env[name] = value;
  }
  return parse_distributed_env(env);
}

std::vector<std::vector<size_t>> make_rank_epoch_batches(const std::vector<size_t>& lengths,
                                                         const BatchOrderOptions& options,
                                                         int64_t epoch, int rank, int world_size) {
  BatchOrderOptions global = options;
  global.batch_size = options.batch_size * static_cast<size_t>(world_size);
  std::vector<size_t> order;
  for (const auto& batch : make_epoch_batches(lengths, global, epoch)) {
    order.insert(order.end(), batch.begin(), batch.end());
  }
  const size_t world = static_cast<size_t>(world_size);
  const size_t per_rank = (order.size() + world - 1) / world;
  const size_t padding = per_rank * world - order.size();
  for (size_t i = 0; i < padding; ++i) order.push_back(order[i % order.size()]);
  std::vector<std::vector<size_t>> batches;
  std::vector<size_t> batch;
  for (size_t i = static_cast<size_t>(rank); i < order.size(); i += world) {
    batch.push_back(order[i]);
    if (batch.size() == options.batch_size) {
      batches.push_back(batch);
      batch.clear();
    }
  }
  if (!batch.empty()) batches.push_back(std::move(batch));
  return batches;
}

int64_t count_rank_batches(size_t examples, size_t batch_size, int world_size) {
  const size_t world = static_cast<size_t>(world_size);
  const size_t per_rank = (examples + world - 1) / world;
  return static_cast<int64_t>((per_rank + batch_size - 1) / batch_size);
}

// What runs the collectives. In LibTorch 2.x ProcessGroupGloo/NCCL derive from c10d::Backend (a
// ProcessGroup only dispatches to backends by device); in 1.13 they are ProcessGroups themselves.
// Both bases have the allreduce/broadcast/allgather/barrier calls used here.
#if TORCH_VERSION_MAJOR >= 2
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

// The store and the process group, and the one place collectives are waited on.
struct Distributed::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Collectives> process_group;
  // Where the small host values (losses, counts, decisions) travel: NCCL moves only CUDA tensors.
  c10::Device comm_device = c10::Device(c10::kCPU);
  int rank = 0;
  int64_t timeout_seconds = 0;

  // Waits for `work`; a failure (a dead peer, a timeout) becomes an Error naming this rank.
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) const {
    try {
      work->wait();
    } catch (const std::exception& e) {
      throw Error(fmt::format(
          "distributed training: rank {}: {} failed: {}; hint: another rank stopped (see its "
          "error above) or did not answer within --dist-timeout {} s",
          rank,
          what,
          describe_exception(e),
          timeout_seconds));
    }
  }

  std::vector<double> all_reduce(std::vector<double> values, c10d::ReduceOp op,
                                 const std::string& what) const {
    std::vector<at::Tensor> tensors{torch::tensor(values, torch::kDouble).to(comm_device)};
    wait(process_group->allreduce(tensors, c10d::AllreduceOptions{op}), what);
    const auto host = tensors[0].cpu();
    const auto* data = host.data_ptr<double>();
    return {data, data + values.size()};
  }
};

// Gradients averaged in buckets during backward. Not thread-safe against a second concurrent
// backward; the hooks of one backward may run on the autograd engine's device threads, hence the
// mutex.
class Distributed::GradientBuckets {
 public:
  GradientBuckets(Group& group, int world_size, const std::vector<at::Tensor>& parameters)
      : group_(group), world_size_(world_size) {
    for (const auto& p : parameters) {
      if (p.requires_grad()) parameters_.push_back(p);
    }
    // Reverse order: gradients become final roughly from the last layer to the first.
    std::reverse(parameters_.begin(), parameters_.end());
    bucket_of_.resize(parameters_.size());
    ready_.assign(parameters_.size(), false);
    for (size_t i = 0; i < parameters_.size(); ++i) {
      const auto& p = parameters_[i];
      const size_t bytes = static_cast<size_t>(p.numel()) * p.element_size();
      if (buckets_.empty() || buckets_.back().bytes + bytes > kBucketBytes ||
          buckets_.back().flat.scalar_type() != p.scalar_type() ||
          buckets_.back().flat.device() != p.device()) {
        buckets_.emplace_back();
        buckets_.back().flat = torch::empty({0}, p.options());
      }
      auto& bucket = buckets_.back();
      bucket_of_[i] = buckets_.size() - 1;
      bucket.members.push_back(i);
      bucket.offsets.push_back(bucket.numel);
      bucket.numel += p.numel();
      bucket.bytes += bytes;
    }
    for (auto& bucket : buckets_) {
      bucket.flat = torch::zeros({bucket.numel}, bucket.flat.options());
      bucket.pending = bucket.members.size();
    }
    for (size_t i = 0; i < parameters_.size(); ++i) {
      auto accumulator = torch::autograd::impl::grad_accumulator(parameters_[i]);
      hook_keys_.push_back(accumulator->add_post_hook(std::make_unique<ReadyHook>(this, i)));
      accumulators_.push_back(std::move(accumulator));
    }
  }

  ~GradientBuckets() {
    for (size_t i = 0; i < accumulators_.size(); ++i) {
      accumulators_[i]->del_post_hook(hook_keys_[i]);
    }
  }

  void enable(bool enabled) {
    std::lock_guard<std::mutex> lock(mutex_);
    enabled_ = enabled;
  }

  void finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    torch::NoGradGuard no_grad;
    // Parameters that got no gradient in this backward still take part (as zeros), so every rank
    // launches every bucket.
    while (next_launch_ < buckets_.size()) launch(next_launch_++);
    for (size_t b = 0; b < buckets_.size(); ++b) {
      auto& bucket = buckets_[b];
      group_.wait(bucket.work,
                  fmt::format("all-reducing gradient bucket {} of {}", b + 1, buckets_.size()));
      bucket.work.reset();
      bucket.flat.div_(world_size_);
      for (size_t k = 0; k < bucket.members.size(); ++k) {
        auto& p = parameters_[bucket.members[k]];
        auto mean = bucket.flat.narrow(0, bucket.offsets[k], p.numel()).view(p.sizes());
        if (p.grad().defined()) {
          p.mutable_grad().copy_(mean);
        } else {
          p.mutable_grad() = mean.clone();
        }
      }
      bucket.pending = bucket.members.size();
    }
    std::fill(ready_.begin(), ready_.end(), false);
    next_launch_ = 0;
  }

 private:
  struct Bucket {
    std::vector<size_t> members;  // indices into parameters_
    std::vector<int64_t> offsets;
    int64_t numel = 0;
    size_t bytes = 0;
    at::Tensor flat;
    size_t pending = 0;  // members whose gradient is not final yet in this backward
    c10::intrusive_ptr<c10d::Work> work;
  };

  struct ReadyHook : torch::autograd::FunctionPostHook {
    ReadyHook(GradientBuckets* owner, size_t index) : owner(owner), index(index) {}
    torch::autograd::variable_list operator()(
        const torch::autograd::variable_list& outputs,
        const torch::autograd::variable_list& /*inputs*/) override {
      owner->mark_ready(index);
      return outputs;
    }
    GradientBuckets* owner;
    size_t index;
  };

  void mark_ready(size_t index) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!enabled_ || ready_[index]) return;
    ready_[index] = true;
    --buckets_[bucket_of_[index]].pending;
    torch::NoGradGuard no_grad;
    while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
      launch(next_launch_++);
    }
  }

  void launch(size_t b) {
    auto& bucket = buckets_[b];
    for (size_t k = 0; k < bucket.members.size(); ++k) {
      const auto& p = parameters_[bucket.members[k]];
      auto slice = bucket.flat.narrow(0, bucket.offsets[k], p.numel());
      if (p.grad().defined()) {
        slice.copy_(p.grad().reshape({-1}));
      } else {
        slice.zero_();
      }
    }
    std::vector<at::Tensor> tensors{bucket.flat};
    bucket.work = group_.process_group->allreduce(tensors);
  }

  Group& group_;
  int world_size_;
  std::vector<at::Tensor> parameters_;
  std::vector<size_t> bucket_of_;
  std::vector<bool> ready_;
  std::vector<Bucket> buckets_;
  size_t next_launch_ = 0;
  bool enabled_ = true;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<uintptr_t> hook_keys_;
  std::mutex mutex_;
};

Distributed::Distributed() = default;
Distributed::Distributed(Distributed&&) noexcept = default;
Distributed& Distributed::operator=(Distributed&&) noexcept = default;
Distributed::~Distributed() {
  buckets_.reset();  // its hooks point into group_
}

Distributed Distributed::from_environment(const DistributedOptions& options,
                                          const c10::Device& device) {
  Distributed dist;
  const auto env = read_distributed_env();
  // A world of one is a plain run, unless a backend was named: then the group is made all the
  // same (how `--nproc-per-node 1 --dist-backend nccl` checks NCCL on a one-GPU host).
  if (!env || (env->world_size == 1 && options.backend.empty())) return dist;
  std::string backend = options.backend;
#ifdef USE_C10D_NCCL
  constexpr bool kHaveNccl = true;
#else
  constexpr bool kHaveNccl = false;
#endif
  if (backend.empty()) backend = device.is_cuda() && kHaveNccl ? "nccl" : "gloo";
  if (backend != "gloo" && backend != "nccl") {
    throw Error(
        fmt::format("checking train options: --dist-backend '{}': expected gloo or nccl", backend));
  }
  if (backend == "nccl") {
#ifndef USE_C10D_NCCL
    throw Error(
        "checking train options: --dist-backend nccl: this LibTorch build has no NCCL; "
        "hint: use --dist-backend gloo (or build ftune against a CUDA LibTorch with NCCL)");
#else
    if (!device.is_cuda()) {
      throw Error(
          "checking train options: --dist-backend nccl: NCCL moves CUDA tensors only, but the "
          "device is cpu; hint: --device cuda, or --dist-backend gloo on the CPU");
    }
    const auto gpus = static_cast<int>(torch::cuda::device_count());
    if (env->local_world_size > gpus) {
      throw Error(fmt::format(
          "checking train options: --dist-backend nccl: {} ranks on this node but {} GPU(s); "
          "NCCL needs a GPU of its own for each rank; hint: at most {} ranks per node, or "
          "--dist-backend gloo (ranks may then share a GPU)",
          env->local_world_size,
          gpus,
          gpus));
    }
#endif
  }
  if (options.timeout_seconds <= 0) {
    throw Error(fmt::format("checking train options: --dist-timeout {}: expected seconds > 0",
                            options.timeout_seconds));
  }
  const std::chrono::milliseconds timeout(options.timeout_seconds * 1000);
  auto group = std::make_unique<Group>();
  group->rank = env->rank;
  group->timeout_seconds = options.timeout_seconds;
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(env->master_port);
    store_options.isServer = env->rank == 0 && !env->external_store;
    store_options.numWorkers = static_cast<size_t>(env->world_size);
    store_options.waitWorkers = true;  // each rank checks in; the server waits for all
    store_options.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(env->master_addr, store_options);
    group->store =
        c10::make_intrusive<c10d::PrefixStore>(fmt::format("ftune/{}/", env->restart_count), store);
    if (backend == "nccl") {
#ifdef USE_C10D_NCCL
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = timeout;
      group->process_group = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          group->store, env->rank, env->world_size, nccl_options);
      group->comm_device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env->local_rank));
#endif
    } else {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
      if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME")) {
        gloo_options->devices.push_back(
            c10d::ProcessGroupGloo::createDeviceForInterface(interface));
      } else if (is_loopback(env->master_addr)) {
        gloo_options->devices.push_back(
            c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      group->process_group = c10::make_intrusive<c10d::ProcessGroupGloo>(
          group->store, env->rank, env->world_size, gloo_options);
    }
  } catch (const std::exception& e) {
    throw Error(fmt::format(
        "distributed training: rank {} of {}: connecting to {}:{} failed: {}; hint: check "
        "MASTER_ADDR/MASTER_PORT, that every rank started, and --dist-timeout {} s",
        env->rank,
        env->world_size,
        env->master_addr,
        env->master_port,
        describe_exception(e),
        options.timeout_seconds));
  }
  dist.group_ = std::move(group);
  dist.rank_ = env->rank;
  dist.world_size_ = env->world_size;
  dist.local_rank_ = env->local_rank;
  return dist;
}

c10::Device Distributed::local_device(const c10::Device& device) const {
  if (!group_ || !device.is_cuda()) return device;
  // One GPU per local rank, as DDP; more ranks than GPUs share them in turn (Gloo only: NCCL
  // refuses that, checked in from_environment).
  const int gpus = std::max(1, static_cast<int>(torch::cuda::device_count()));
  return {c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(local_rank_ % gpus)};
}

void Distributed::broadcast_module(torch::nn::Module& module) {
  if (!group_) return;
  torch::NoGradGuard no_grad;
  auto tensors = module.parameters();
  for (const auto& buffer : module.buffers()) tensors.push_back(buffer);
  for (auto& tensor : tensors) {
    std::vector<at::Tensor> one{tensor.data()};
    group_->wait(group_->process_group->broadcast(one), "broadcasting rank 0's weights");
  }
}

void Distributed::attach_gradients(const std::vector<at::Tensor>& parameters) {
  if (!group_) return;
  buckets_ = std::make_unique<GradientBuckets>(*group_, world_size_, parameters);
}

void Distributed::sync_next_backward(bool enabled) {
  if (buckets_) buckets_->enable(enabled);
}

void Distributed::finish_gradient_sync() {
  if (buckets_) buckets_->finish();
}

double Distributed::mean_across_ranks(double value) {
  if (!group_) return value;
  return group_->all_reduce({value}, c10d::ReduceOp::SUM, "averaging the loss")[0] / world_size_;
}

std::vector<double> Distributed::sum_across_ranks(const std::vector<double>& values) {
  if (!group_) return values;
  return group_->all_reduce(values, c10d::ReduceOp::SUM, "summing evaluation results");
}

at::Tensor Distributed::gather_rows(const at::Tensor& rows) {
  if (!group_) return rows;
  // Row counts first (each rank fills its own slot), then equally sized blocks.
  std::vector<double> counts(static_cast<size_t>(world_size_), 0.0);
  counts[static_cast<size_t>(rank_)] = static_cast<double>(rows.size(0));
  counts = group_->all_reduce(counts, c10d::ReduceOp::SUM, "counting evaluation rows");
  const auto most = static_cast<int64_t>(*std::max_element(counts.begin(), counts.end()));
  auto block =
      torch::zeros({most, rows.size(1)}, rows.options().device(group_->comm_device));  // (M, F)
  block.narrow(0, 0, rows.size(0)).copy_(rows);
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int r = 0; r < world_size_; ++r) outputs[0].push_back(torch::empty_like(block));
  std::vector<at::Tensor> inputs{block};
  group_->wait(group_->process_group->allgather(outputs, inputs), "gathering evaluation rows");
  std::vector<at::Tensor> parts;
  for (int r = 0; r < world_size_; ++r) {
    parts.push_back(outputs[0][static_cast<size_t>(r)].narrow(
        0, 0, static_cast<int64_t>(counts[static_cast<size_t>(r)])));
  }
  return torch::cat(parts, 0).to(rows.device());  // (sum N_r, F)
}

int64_t Distributed::sum_across_ranks(int64_t value) {
  if (!group_) return value;
  return static_cast<int64_t>(
      group_->all_reduce({static_cast<double>(value)}, c10d::ReduceOp::SUM, "summing counts")[0]);
}

int Distributed::max_across_ranks(int value) {
  if (!group_) return value;
  return static_cast<int>(group_->all_reduce(
      {static_cast<double>(value)}, c10d::ReduceOp::MAX, "agreeing on a signal")[0]);
}

bool Distributed::broadcast_from_main(bool value) {
  if (!group_) return value;
  std::vector<at::Tensor> tensors{
      torch::tensor({value ? 1.0 : 0.0}, torch::kDouble).to(group_->comm_device)};
  group_->wait(group_->process_group->broadcast(tensors), "waiting for rank 0's decision");
  return tensors[0].item<double>() != 0.0;
}

void Distributed::barrier() {
  if (!group_) return;
  group_->wait(group_->process_group->barrier(), "waiting at a barrier");
}

struct LocalStoreServer::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
};

LocalStoreServer::LocalStoreServer(const std::string& host) : impl_(std::make_unique<Impl>()) {
  try {
    c10d::TCPStoreOptions options;
    options.port = 0;  // the kernel's pick, bound at once
    options.isServer = true;
    options.waitWorkers = false;  // the ranks count themselves in (from_environment)
    impl_->store = c10::make_intrusive<c10d::TCPStore>(host, options);
    port_ = static_cast<int>(impl_->store->getPort());
  } catch (const std::exception& e) {
    throw Error(fmt::format(
        "launching ranks: serving the rendezvous on {}: {}", host, describe_exception(e)));
  }
}

LocalStoreServer::~LocalStoreServer() = default;

}  // namespace ftune
