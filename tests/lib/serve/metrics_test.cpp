// ServeMetrics (lib/serve/metrics.h): Prometheus text with cumulative histogram buckets, counted
// by hand.
#include "lib/serve/metrics.h"

#include <string>

#include <gtest/gtest.h>

namespace ftune {
namespace {

TEST(Histogram, BucketsAreCumulativeWithSumAndCount) {
  Histogram histogram({1, 2, 4});
  for (double value : {0.5, 1.0, 1.5, 3.0, 9.0}) histogram.observe(value);
  EXPECT_EQ(histogram.render("x"),
            "x_bucket{le=\"1\"} 2\n"  // 0.5 and 1.0: a bound is inclusive ("le")
            "x_bucket{le=\"2\"} 3\n"
            "x_bucket{le=\"4\"} 4\n"
            "x_bucket{le=\"+Inf\"} 5\n"
            "x_sum 15\n"
            "x_count 5\n");
}

TEST(ServeMetrics, CountsRequestsByRouteAndStatusAndBatches) {
  ServeMetrics metrics;
  metrics.count_request("/v1/predict", 200, 0.004);
  metrics.count_request("/v1/predict", 200, 0.02);
  metrics.count_request("/v1/predict", 400, 0.0001);
  metrics.count_rejected();
  metrics.count_request("/v1/predict", 503, 0.0001);
  metrics.count_batch(3, 30, {0.001, 0.002, 0.003});
  const std::string text = metrics.render(/*queued_inputs=*/7);
  EXPECT_NE(text.find("ftune_requests_total{route=\"/v1/predict\",code=\"200\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ftune_requests_total{route=\"/v1/predict\",code=\"400\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("ftune_request_errors_total 2\n"), std::string::npos);
  EXPECT_NE(text.find("ftune_rejected_total 1\n"), std::string::npos);
  EXPECT_NE(text.find("ftune_inputs_total 3\n"), std::string::npos);
  EXPECT_NE(text.find("ftune_padded_tokens_total 30\n"), std::string::npos);
  EXPECT_NE(text.find("ftune_queued_inputs 7\n"), std::string::npos);
  EXPECT_NE(text.find("ftune_batch_size_bucket{le=\"2\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("ftune_batch_size_bucket{le=\"4\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("ftune_queue_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(text.find("ftune_request_duration_seconds_bucket{le=\"0.005\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("ftune_request_duration_seconds_count 4\n"), std::string::npos);
}

}  // namespace
}  // namespace ftune
