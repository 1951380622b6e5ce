// The counters `ftune serve` reports at GET /metrics, in Prometheus's text format (version 0.0.4):
// requests by route and status, inputs, batches, batch sizes, queue time and latency. Thread-safe;
// no HTTP and no LibTorch here.
//
//   ServeMetrics metrics;
//   metrics.count_request("/v1/predict", 200, /*seconds=*/0.012);
//   metrics.count_batch(/*inputs=*/8, /*tokens=*/412, {0.001, 0.003});
//   std::string text = metrics.render(/*queued_inputs=*/0);
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ftune {

// A Prometheus histogram: cumulative counts at fixed upper bounds, plus sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // `name`_bucket{le="..."} lines (cumulative, ending with +Inf), `name`_sum and `name`_count.
  std::string render(const std::string& name) const;

 private:
  std::vector<double> upper_bounds_;
  std::vector<uint64_t> counts_;  // per bound, not cumulative; one more for +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServeMetrics {
 public:
  ServeMetrics();
  void count_request(const std::string& route, int status, double seconds);
  // One model run: how many inputs, their padded token count, and each input's time in the
  // queue before the run started.
  void count_batch(size_t inputs, size_t padded_tokens, const std::vector<double>& queue_seconds);
  void count_rejected();  // a request turned away with 503 because the queue was full
  std::string render(size_t queued_inputs) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (route, status) -> count
  uint64_t rejected_ = 0;
  uint64_t batches_ = 0;
  uint64_t inputs_ = 0;
  uint64_t padded_tokens_ = 0;
  Histogram latency_;
  Histogram batch_size_;
  Histogram queue_time_;
};

}  // namespace ftune
