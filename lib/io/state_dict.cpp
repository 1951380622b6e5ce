// Strict loading by name. The exceptions to a straight name match live here, once each:
// normalize_key (legacy spellings), the base-model prefix ("bert."), kIgnoredKeys (buffers that
// are never parameters) and kDroppedPrefixes (heads of other tasks).
#include "lib/io/state_dict.h"

#include <algorithm>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "lib/io/weights.h"
#include "util/error.h"

namespace ftune {
namespace {

// Buffers Hugging Face stores or traces that our modules compute instead.
const std::set<std::string> kIgnoredSuffixes = {"embeddings.position_ids",
                                                "embeddings.token_type_ids"};
// Heads of other tasks: a classifier may start from a pre-training checkpoint.
const std::vector<std::string> kDroppedPrefixes = {"cls."};
// Base-model prefixes: a bare encoder checkpoint ("embeddings...") loads under "bert.".
const std::vector<std::string> kBasePrefixes = {"bert."};

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

bool has_any_prefix(const std::string& key, const std::vector<std::string>& prefixes) {
  return std::any_of(
      prefixes.begin(), prefixes.end(), [&](const std::string& p) { return starts_with(key, p); });
}

bool is_ignored(const std::string& key) {
  for (const auto& suffix : kIgnoredSuffixes) {
    if (key.size() >= suffix.size() &&
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return true;
    }
  }
  return false;
}

std::string format_shape(at::IntArrayRef shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::map<std::string, at::Tensor> collect_expected(const torch::nn::Module& module) {
  std::map<std::string, at::Tensor> expected;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    expected[item.key()] = item.value();
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    expected[item.key()] = item.value();
  }
  return expected;
}

// Provided keys renamed to the module's spelling: legacy names, and a missing base prefix.
std::map<std::string, std::string> map_provided_names(
    const std::map<std::string, at::Tensor>& provided,
    const std::map<std::string, at::Tensor>& expected) {
  std::string add_prefix;    // a bare encoder file loading into a model with a head
  std::string strip_prefix;  // a file with a head loading into a bare encoder
  for (const auto& base : kBasePrefixes) {
    bool module_has_base = std::any_of(expected.begin(), expected.end(), [&](const auto& e) {
      return starts_with(e.first, base);
    });
    bool file_has_base = std::any_of(provided.begin(), provided.end(), [&](const auto& p) {
      return starts_with(p.first, base);
    });
    if (module_has_base && !file_has_base) add_prefix = base;
    if (!module_has_base && file_has_base) strip_prefix = base;
  }
  std::map<std::string, std::string> names;  // provided name -> module name
  for (const auto& [name, tensor] : provided) {
    std::string key = normalize_key(name);
    if (!add_prefix.empty() && !has_any_prefix(key, kDroppedPrefixes) && expected.count(key) == 0 &&
        expected.count(add_prefix + key) > 0) {
      key = add_prefix + key;
    }
    if (!strip_prefix.empty() && starts_with(key, strip_prefix) &&
        expected.count(key.substr(strip_prefix.size())) > 0) {
      key = key.substr(strip_prefix.size());
    }
    names[name] = key;
  }
  return names;
}

LoadReport build_report(const torch::nn::Module& module,
                        const std::map<std::string, at::Tensor>& provided, const LoadPolicy& policy,
                        std::vector<std::pair<at::Tensor, at::Tensor>>* copies) {
  LoadReport report;
  auto expected = collect_expected(module);
  auto names = map_provided_names(provided, expected);
  std::set<std::string> matched;
  for (const auto& [file_name, tensor] : provided) {
    const std::string& key = names.at(file_name);
    if (has_any_prefix(key, policy.fresh_prefixes)) {
      report.dropped.push_back(file_name);
      continue;
    }
    auto it = expected.find(key);
    if (it == expected.end()) {
      if (is_ignored(key)) {
        report.ignored.push_back(file_name);
      } else if (has_any_prefix(key, kDroppedPrefixes)) {
        report.dropped.push_back(file_name);
      } else {
        report.unexpected.push_back(file_name);
      }
      continue;
    }
    matched.insert(key);
    if (it->second.sizes() != tensor.sizes()) {
      report.mismatched.push_back(fmt::format("{}: expected {}, got {}",
                                              key,
                                              format_shape(it->second.sizes()),
                                              format_shape(tensor.sizes())));
      continue;
    }
    ++report.loaded;
    if (copies) copies->emplace_back(it->second, tensor);
  }
  for (const auto& [key, tensor] : expected) {
    if (matched.count(key)) continue;
    if (has_any_prefix(key, policy.fresh_prefixes) ||
        has_any_prefix(key, policy.allow_missing_prefixes)) {
      report.initialized_fresh.push_back(key);
    } else {
      report.missing.push_back(key);
    }
  }
  for (auto* list : {&report.missing,
                     &report.unexpected,
                     &report.mismatched,
                     &report.initialized_fresh,
                     &report.dropped,
                     &report.ignored}) {
    std::sort(list->begin(), list->end());
  }
  return report;
}

void append_list(std::string& out, const char* title, const std::vector<std::string>& names) {
  if (names.empty()) return;
  out += fmt::format("\n  {} ({}):", title, names.size());
  const size_t shown = std::min<size_t>(names.size(), 10);
  for (size_t i = 0; i < shown; ++i) out += fmt::format("\n    {}", names[i]);
  if (names.size() > shown) out += fmt::format("\n    ... and {} more", names.size() - shown);
}

}  // namespace

std::string normalize_key(const std::string& key) {
  auto replace_suffix = [](const std::string& text,
                           const std::string& from,
                           const std::string& to) -> std::optional<std::string> {
    if (text.size() >= from.size() &&
        text.compare(text.size() - from.size(), from.size(), from) == 0) {
      return text.substr(0, text.size() - from.size()) + to;
    }
    return std::nullopt;
  };
  if (auto k = replace_suffix(key, "LayerNorm.gamma", "LayerNorm.weight")) return *k;
  if (auto k = replace_suffix(key, "LayerNorm.beta", "LayerNorm.bias")) return *k;
  return key;
}

std::string LoadReport::format() const {
  std::string out = fmt::format("loaded {} tensors", loaded);
  append_list(out, "missing", missing);
  append_list(out, "unexpected", unexpected);
  append_list(out, "mis-shaped", mismatched);
  append_list(out, "initialized fresh", initialized_fresh);
  append_list(out, "dropped (not used by this model)", dropped);
  append_list(out, "ignored (computed, not loaded)", ignored);
  return out;
}

LoadReport match_state_dict(const torch::nn::Module& module,
                            const std::map<std::string, at::Tensor>& provided,
                            const LoadPolicy& policy) {
  return build_report(module, provided, policy, nullptr);
}

LoadReport load_state_dict(torch::nn::Module& module,
                           const std::map<std::string, at::Tensor>& provided,
                           const LoadPolicy& policy, const std::string& source) {
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  LoadReport report = build_report(module, provided, policy, &copies);
  if (!report.is_ok()) {
    std::string hint = !report.mismatched.empty()
                           ? "config.json and the weights come from different models"
                           : "the weights do not belong to this model class; run `ftune inspect`";
    throw CheckpointError(
        fmt::format("loading weights '{}': {} missing, {} unexpected, {} mis-shaped "
                    "tensors; hint: {}\n{}",
                    source,
                    report.missing.size(),
                    report.unexpected.size(),
                    report.mismatched.size(),
                    hint,
                    report.format()));
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, source_tensor] : copies) {
    target.copy_(source_tensor.to(target.scalar_type()));
    release_mapped_pages(source_tensor);  // file-mapped weights: their memory back once copied
  }
  return report;
}

std::map<std::string, at::Tensor> collect_state_dict(const torch::nn::Module& module) {
  std::map<std::string, at::Tensor> state;
  for (const auto& [key, tensor] : collect_expected(module)) {
    auto value = tensor.detach().to(torch::kCPU);
    if (value.is_floating_point()) value = value.to(torch::kFloat);
    state[key] = value.contiguous();
  }
  return state;
}

}  // namespace ftune
