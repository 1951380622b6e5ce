// Test helpers for golden comparisons against tests/fixtures: JSON files, nested lists as tensors,
// and a closeness check that names the max difference and the first bad index.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace ftune::testing {

inline nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::json::parse(buffer.str());
}

namespace detail {
inline void flatten(const nlohmann::json& value, std::vector<double>& out,
                    std::vector<int64_t>& shape, size_t depth) {
  if (value.is_array()) {
    if (shape.size() <= depth) shape.push_back(static_cast<int64_t>(value.size()));
    for (const auto& item : value) flatten(item, out, shape, depth + 1);
  } else {
    out.push_back(value.get<double>());
  }
}
}  // namespace detail

// Nested JSON lists of numbers -> tensor of `dtype` with the lists' shape.
inline torch::Tensor json_to_tensor(const nlohmann::json& value,
                                    torch::Dtype dtype = torch::kFloat) {
  std::vector<double> flat;
  std::vector<int64_t> shape;
  detail::flatten(value, flat, shape, 0);
  return torch::tensor(flat, torch::kDouble).view(shape).to(dtype);
}

// |actual - expected| <= atol + rtol * |expected| elementwise, with a message naming the first
// failing index and the largest differences when it does not hold.
inline ::testing::AssertionResult tensors_close(const torch::Tensor& actual,
                                                const torch::Tensor& expected, double rtol,
                                                double atol) {
  if (actual.sizes() != expected.sizes()) {
    std::ostringstream msg;
    msg << "shape " << actual.sizes() << " != expected " << expected.sizes();
    return ::testing::AssertionFailure() << msg.str();
  }
  auto a = actual.to(torch::kDouble).flatten();
  auto e = expected.to(torch::kDouble).flatten();
  auto diff = (a - e).abs();
  auto allowed = atol + rtol * e.abs();
  auto bad = (diff > allowed).nonzero();
  const double max_abs = diff.numel() ? diff.max().item<double>() : 0.0;
  if (bad.numel() == 0) return ::testing::AssertionSuccess() << "max abs diff " << max_abs;
  const int64_t first = bad[0][0].item<int64_t>();
  std::ostringstream msg;
  msg << bad.size(0) << " of " << diff.numel() << " elements differ; first at flat index " << first
      << ": got " << a[first].item<double>() << ", expected " << e[first].item<double>()
      << "; max abs diff " << max_abs;
  return ::testing::AssertionFailure() << msg.str();
}

}  // namespace ftune::testing
