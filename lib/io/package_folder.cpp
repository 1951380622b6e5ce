// Finding the Hugging Face folder inside a package folder.
#include "lib/io/package_folder.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json.h"

namespace ftune {
namespace fs = std::filesystem;
namespace {

bool has_config(const fs::path& dir) {
  std::error_code error;
  return fs::is_regular_file(dir / "config.json", error);
}

// The sub-folder modules.json gives the sentence_transformers.models.Transformer module, if any.
std::optional<fs::path> transformer_module(const fs::path& dir) {
  std::ifstream in(dir / "modules.json", std::ios::binary);
  if (!in) return std::nullopt;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  nlohmann::json modules;
  try {
    modules = parse_json_capped(text, (dir / "modules.json").string());
  } catch (const JsonError&) {
    return std::nullopt;  // not a sentence-transformers package after all: search instead
  }
  if (!modules.is_array()) return std::nullopt;
  for (const auto& module : modules) {
    if (!module.is_object() || !module.contains("type") || !module["type"].is_string()) continue;
    const auto type = module["type"].get<std::string>();
    if (type.size() < 11 || type.compare(type.size() - 11, 11, "Transformer") != 0) continue;
    const auto path = module.value("path", nlohmann::json("")).is_string()
                          ? module.value("path", std::string())
                          : std::string();
    if (has_config(dir / path)) return dir / path;
  }
  return std::nullopt;
}

// Folders with config.json below `dir`, at most `depth` levels down, hidden ones skipped.
void collect(const fs::path& dir, int depth, std::vector<fs::path>& found) {
  if (depth == 0) return;
  std::error_code error;
  std::vector<fs::path> children;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const auto name = entry.path().filename().string();
    if (!name.empty() && name[0] != '.' && entry.is_directory(error)) children.push_back(entry);
  }
  std::sort(children.begin(), children.end());
  for (const auto& child : children) {
    if (has_config(child)) {
      found.push_back(child);
    } else {
      collect(child, depth - 1, found);
    }
  }
}

std::string describe_files(const fs::path& dir) {
  std::vector<std::string> present;
  for (const char* name : {"config.json",
                           "model.safetensors",
                           "model.safetensors.index.json",
                           "pytorch_model.bin",
                           "vocab.txt",
                           "tokenizer.json",
                           "tokenizer_config.json",
                           "source.spm"}) {
    if (fs::exists(dir / name)) present.emplace_back(name);
  }
  return fmt::format("{}", fmt::join(present, ", "));
}

}  // namespace

FoundModelFolder find_model_folder(const fs::path& dir) {
  // A TorchScript file next to its config.json (what `ftune export` writes): its folder.
  std::error_code ec;
  if (dir.extension() == ".pt" && fs::is_regular_file(dir, ec) && has_config(dir.parent_path())) {
    return {dir.parent_path(), fmt::format("model: using the folder of '{}'", dir.string())};
  }
  if (has_config(dir) || !fs::is_directory(dir)) return {dir, ""};
  std::optional<fs::path> found = transformer_module(dir);
  if (!found) {
    std::vector<fs::path> candidates;
    collect(dir, 3, candidates);
    if (candidates.size() > 1) {
      std::vector<std::string> names;
      for (const auto& c : candidates) names.push_back(fs::relative(c, dir).string());
      throw ConfigError(fmt::format(
          "finding the model in '{}': expected one folder with config.json inside it, got {}: "
          "{}; hint: give --model one of them",
          dir.string(),
          candidates.size(),
          fmt::join(names, ", ")));
    }
    if (candidates.empty()) return {dir, ""};
    found = candidates.front();
  }
  return {*found,
          fmt::format("model: using '{}' inside '{}' ({})",
                      fs::relative(*found, dir).string(),
                      dir.string(),
                      describe_files(*found))};
}

}  // namespace ftune
