// Strict state-dict loading: match a module's expected keys against a weights file's tensors by
// name and report every missing, unexpected and mis-shaped tensor at once. Not here: reading
// the files (lib/io/weights.h) or choosing a model class (lib/io/bert_folder.h).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace ftune {

struct LoadPolicy {
  // Parameters under these prefixes are initialized fresh (a new classification head): provided
  // tensors there are dropped, and their absence is not an error.
  std::vector<std::string> fresh_prefixes;
  // Parameters under these prefixes may be absent from the file; they keep their fresh values.
  std::vector<std::string> allow_missing_prefixes;
};

struct LoadReport {
  int64_t loaded = 0;
  std::vector<std::string> missing;            // expected, not provided
  std::vector<std::string> unexpected;         // provided, not expected
  std::vector<std::string> mismatched;         // "name: expected [a, b], got [c, d]"
  std::vector<std::string> initialized_fresh;  // expected, initialized instead of loaded
  std::vector<std::string> dropped;            // provided, knowingly not used (other heads)
  std::vector<std::string> ignored;            // provided, never parameters (position_ids)

  bool is_ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  // Multi-line text: counts, then the first 10 names of each non-empty list.
  std::string format() const;
};

// Legacy and prefix spellings mapped to today's: "LayerNorm.gamma" -> "LayerNorm.weight",
// "LayerNorm.beta" -> "LayerNorm.bias".
std::string normalize_key(const std::string& key);

// Compares without copying anything (for `ftune inspect`).
LoadReport match_state_dict(const torch::nn::Module& module,
                            const std::map<std::string, at::Tensor>& provided,
                            const LoadPolicy& policy);

// Copies matching tensors into the module's parameters and buffers. Throws CheckpointError
// carrying the whole report when anything is missing, unexpected or mis-shaped; `source` names
// the weights file in that message.
LoadReport load_state_dict(torch::nn::Module& module,
                           const std::map<std::string, at::Tensor>& provided,
                           const LoadPolicy& policy, const std::string& source);

// The module's parameters and persistent buffers as contiguous CPU float tensors (for saving).
std::map<std::string, at::Tensor> collect_state_dict(const torch::nn::Module& module);

}  // namespace ftune
