// Prometheus text exposition for `ftune serve`; see metrics.h.
#include "lib/serve/metrics.h"

#include <algorithm>

#include <fmt/format.h>

namespace ftune {
namespace {

// Prometheus prints bounds as Go's strconv would; the shortest round-trip form does that for the
// bounds used here (0.001, 0.0025, 1, 64).
std::string format_bound(double value) { return fmt::format("{}", value); }

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), counts_(upper_bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const auto bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  ++counts_[static_cast<size_t>(bucket - upper_bounds_.begin())];
  sum_ += value;
  ++count_;
}

std::string Histogram::render(const std::string& name) const {
  std::string text;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    cumulative += counts_[i];
    text += fmt::format(
        "{}_bucket{{le=\"{}\"}} {}\n", name, format_bound(upper_bounds_[i]), cumulative);
  }
  text += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, count_);
  text += fmt::format("{}_sum {}\n{}_count {}\n", name, sum_, name, count_);
  return text;
}

ServeMetrics::ServeMetrics()
    : latency_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}),
      batch_size_({1, 2, 4, 8, 16, 32, 64, 128, 256}),
      queue_time_({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}) {}

void ServeMetrics::count_request(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
  latency_.observe(seconds);
}

void ServeMetrics::count_batch(size_t inputs, size_t padded_tokens,
                               const std::vector<double>& queue_seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++batches_;
  inputs_ += inputs;
  padded_tokens_ += padded_tokens;
  batch_size_.observe(static_cast<double>(inputs));
  for (double seconds : queue_seconds) queue_time_.observe(seconds);
}

void ServeMetrics::count_rejected() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++rejected_;
}

std::string ServeMetrics::render(size_t queued_inputs) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string text;
  text += "# HELP ftune_requests_total HTTP requests answered, by route and status code.\n";
  text += "# TYPE ftune_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    text += fmt::format(
        "ftune_requests_total{{route=\"{}\",code=\"{}\"}} {}\n", key.first, key.second, count);
  }
  uint64_t errors = 0;
  for (const auto& [key, count] : requests_) errors += key.second >= 400 ? count : 0;
  text += "# HELP ftune_request_errors_total Requests answered with a 4xx or 5xx status.\n";
  text += "# TYPE ftune_request_errors_total counter\n";
  text += fmt::format("ftune_request_errors_total {}\n", errors);
  text += "# HELP ftune_rejected_total Requests turned away with 503 because the queue was full.\n";
  text += "# TYPE ftune_rejected_total counter\n";
  text += fmt::format("ftune_rejected_total {}\n", rejected_);
  text += "# HELP ftune_batches_total Model runs (one batch each).\n";
  text += "# TYPE ftune_batches_total counter\n";
  text += fmt::format("ftune_batches_total {}\n", batches_);
  text += "# HELP ftune_inputs_total Texts run through the model.\n";
  text += "# TYPE ftune_inputs_total counter\n";
  text += fmt::format("ftune_inputs_total {}\n", inputs_);
  text += "# HELP ftune_padded_tokens_total Tokens the model ran, padding included.\n";
  text += "# TYPE ftune_padded_tokens_total counter\n";
  text += fmt::format("ftune_padded_tokens_total {}\n", padded_tokens_);
  text += "# HELP ftune_queued_inputs Texts waiting for the model now.\n";
  text += "# TYPE ftune_queued_inputs gauge\n";
  text += fmt::format("ftune_queued_inputs {}\n", queued_inputs);
  text += "# HELP ftune_batch_size Texts per model run.\n";
  text += "# TYPE ftune_batch_size histogram\n";
  text += batch_size_.render("ftune_batch_size");
  text += "# HELP ftune_queue_seconds Time a text waited before its model run started.\n";
  text += "# TYPE ftune_queue_seconds histogram\n";
  text += queue_time_.render("ftune_queue_seconds");
  text += "# HELP ftune_request_duration_seconds Time from a request's arrival to its answer.\n";
  text += "# TYPE ftune_request_duration_seconds histogram\n";
  text += latency_.render("ftune_request_duration_seconds");
  return text;
}

}  // namespace ftune
