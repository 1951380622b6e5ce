// Dynamic batching for `ftune serve`: the inputs of concurrent requests wait in one bounded queue,
// and one worker thread runs them together, up to a budget of padded tokens or until the oldest
// has waited long enough; each request gets its outputs back in its own order. No HTTP and no
// LibTorch here: the model run is a function the caller gives.
//
//   struct Text { size_t tokens; int64_t group; std::string text; };  // the two fields it reads
//   DynamicBatcher<Text, std::string> batcher(limits, [&](const std::vector<const Text*>& batch) {
//     return run_model(batch);  // one output per input, in the batch's order
//   });
//   auto ticket = batcher.submit({{3, 0, "a b c"}, {1, 0, "d"}});  // throws QueueFull
//   std::optional<std::vector<std::string>> outputs = ticket.wait_for(std::chrono::seconds(30));
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "util/error.h"

namespace ftune {

struct BatchLimits {
  // A batch's cost is its inputs times its longest input, in tokens (what a padded batch runs);
  // a single input over the budget still runs, alone.
  size_t max_batch_tokens = 8192;
  // How long the oldest waiting input may wait for others to join it; a full budget runs at once.
  // 0: a batch starts as soon as the model is free, with what queued while it ran (at
  // concurrency 1 any wait is pure latency: 2 ms cost 2-3 ms of p50 in bench/serve.sh).
  std::chrono::microseconds max_wait{0};
  // Inputs waiting at most; a request that would go past it is refused (QueueFull).
  size_t max_queued_inputs = 256;
};

// The queue holds max_queued_inputs: the server answers 503 with Retry-After.
class QueueFull : public Error {
 public:
  using Error::Error;
};

// What the worker tells the caller after each run (for metrics): inputs, padded tokens, and each
// input's seconds in the queue.
struct BatchStats {
  size_t inputs = 0;
  size_t padded_tokens = 0;
  std::vector<double> queue_seconds;
};

// Input needs `size_t tokens` (its length) and `int64_t group` (inputs of different groups never
// share a batch: a translation's beam size).
template <class Input, class Output>
class DynamicBatcher {
  using Clock = std::chrono::steady_clock;

  struct Request {
    std::vector<Input> inputs;
    std::vector<Output> outputs;
    size_t remaining = 0;
    bool failed = false;  // the promise holds an exception already
    std::promise<std::vector<Output>> promise;
    std::atomic<bool> abandoned{false};  // its caller stopped waiting: skip what is still queued
    Clock::time_point queued_at;
  };
  struct Entry {
    std::shared_ptr<Request> request;
    size_t index = 0;
  };

 public:
  using Run = std::function<std::vector<Output>(const std::vector<const Input*>&)>;
  using Observe = std::function<void(const BatchStats&)>;

  // A request's outputs, once every one of its inputs has run.
  class Ticket {
   public:
    // The outputs in input order; nothing if `timeout` passed first (the request's inputs that
    // have not started are then dropped). Rethrows what the run threw.
    std::optional<std::vector<Output>> wait_for(std::chrono::milliseconds timeout) {
      if (future_.wait_for(timeout) != std::future_status::ready) {
        request_->abandoned = true;
        return std::nullopt;
      }
      return future_.get();
    }

   private:
    friend class DynamicBatcher;
    Ticket(std::shared_ptr<Request> request, std::future<std::vector<Output>> future)
        : request_(std::move(request)), future_(std::move(future)) {}
    std::shared_ptr<Request> request_;
    std::future<std::vector<Output>> future_;
  };

  DynamicBatcher(BatchLimits limits, Run run, Observe observe = {})
      : limits_(limits), run_(std::move(run)), observe_(std::move(observe)) {
    worker_ = std::thread([this] { work(); });
  }
  ~DynamicBatcher() { stop(); }
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Queues a request's inputs (at least one). QueueFull when they do not fit.
  Ticket submit(std::vector<Input> inputs) {
    auto request = std::make_shared<Request>();
    request->remaining = inputs.size();
    request->outputs.resize(inputs.size());
    request->inputs = std::move(inputs);
    auto future = request->promise.get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) throw QueueFull("the server is shutting down");
      if (queue_.size() + request->inputs.size() > limits_.max_queued_inputs) {
        throw QueueFull("the queue is full");
      }
      request->queued_at = Clock::now();
      for (size_t i = 0; i < request->inputs.size(); ++i) {
        queue_.push_back({request, i});
        queued_tokens_ += request->inputs[i].tokens;
      }
    }
    ready_.notify_one();
    return Ticket(request, std::move(future));
  }

  size_t queued_inputs() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return queue_.size();
  }

  // Runs what is queued, then ends the worker. Later submits throw QueueFull.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_one();
    if (worker_.joinable()) worker_.join();
  }

 private:
  void work() {
    for (;;) {
      std::vector<Entry> batch;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything ran
        const auto deadline = queue_.front().request->queued_at + limits_.max_wait;
        while (!stopping_ && queued_tokens_ < limits_.max_batch_tokens && Clock::now() < deadline) {
          ready_.wait_until(lock, deadline);
        }
        batch = take_batch();
      }
      if (!batch.empty()) run_batch(batch);
    }
  }

  // Under the lock: the oldest input's group, oldest first, while inputs x longest fits the
  // budget; inputs of abandoned requests are dropped on the way.
  std::vector<Entry> take_batch() {
    std::vector<Entry> batch;
    std::deque<Entry> rest;
    size_t longest = 0;
    bool full = false;
    int64_t group = 0;
    while (!queue_.empty()) {
      Entry entry = std::move(queue_.front());
      queue_.pop_front();
      const Input& input = entry.request->inputs[entry.index];
      if (entry.request->abandoned) {
        queued_tokens_ -= input.tokens;
        continue;
      }
      if (batch.empty()) group = input.group;
      const size_t cost = (batch.size() + 1) * std::max(longest, input.tokens);
      if (full || input.group != group || (!batch.empty() && cost > limits_.max_batch_tokens)) {
        full = full || input.group == group;  // keep the order: nothing later of this group
        rest.push_back(std::move(entry));
        continue;
      }
      longest = std::max(longest, input.tokens);
      queued_tokens_ -= input.tokens;
      batch.push_back(std::move(entry));
    }
    queue_ = std::move(rest);
    return batch;
  }

  void run_batch(std::vector<Entry>& batch) {
    // Length-sorted, so that similar lengths share padding inside the batch.
    std::stable_sort(batch.begin(), batch.end(), [](const Entry& a, const Entry& b) {
      return a.request->inputs[a.index].tokens < b.request->inputs[b.index].tokens;
    });
    BatchStats stats;
    stats.inputs = batch.size();
    std::vector<const Input*> inputs;
    size_t longest = 0;
    const auto started = Clock::now();
    for (const Entry& entry : batch) {
      inputs.push_back(&entry.request->inputs[entry.index]);
      longest = std::max(longest, inputs.back()->tokens);
      stats.queue_seconds.push_back(
          std::chrono::duration<double>(started - entry.request->queued_at).count());
    }
    stats.padded_tokens = longest * batch.size();
    std::vector<Output> outputs;
    std::exception_ptr error;
    try {
      outputs = run_(inputs);
      if (outputs.size() != inputs.size()) throw Error("serving: the model run lost outputs");
    } catch (...) {
      error = std::current_exception();
    }
    if (observe_) observe_(stats);
    for (size_t k = 0; k < batch.size(); ++k) {
      Request& request = *batch[k].request;
      if (request.failed) continue;
      if (error) {
        request.failed = true;
        request.promise.set_exception(error);
        continue;
      }
      request.outputs[batch[k].index] = std::move(outputs[k]);
      if (--request.remaining == 0) request.promise.set_value(std::move(request.outputs));
    }
  }

  BatchLimits limits_;
  Run run_;
  Observe observe_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Entry> queue_;
  size_t queued_tokens_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace ftune
