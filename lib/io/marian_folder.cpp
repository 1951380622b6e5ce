// Loading and saving Marian folders.
#include "lib/io/marian_folder.h"

#include <fstream>
#include <iterator>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lib/io/bert_folder.h"
#include "lib/io/weights.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json.h"

namespace ftune {
namespace {

const char* const kTokenizerFiles[] = {
    "source.spm", "target.spm", "vocab.json", "tokenizer_config.json", "special_tokens_map.json"};

}  // namespace

bool is_marian_folder(const std::filesystem::path& dir) {
  std::ifstream in(dir / "config.json", std::ios::binary);
  if (!in) return false;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    const auto json = parse_json_capped(text, (dir / "config.json").string());
    return json.is_object() && json.value("model_type", "") == "marian";
  } catch (const std::exception&) {  // JsonError, or a model_type that is not a string
    return false;  // not Marian: the BERT reader then reports what is wrong with the file
  }
}

MarianBundle load_marian_folder(const std::filesystem::path& dir,
                                const std::optional<std::filesystem::path>& weights) {
  require_model_folder(dir);
  MarianBundle bundle;
  bundle.dir = dir;
  bundle.config = MarianConfig::read((dir / "config.json").string());
  bundle.tokenizer = MarianTokenizer::load_from_folder(dir.string());
  // An id outside the embedding table would fail deep inside the first forward pass as "index
  // out of range in self"; here the file and the id are named.
  const auto& tokenizer = *bundle.tokenizer;
  if (tokenizer.min_id() < 0 || tokenizer.max_id() >= bundle.config.vocab_size) {
    throw ConfigError(fmt::format(
        "loading '{}': token id {}: expected ids from 0 to {} (config.json's vocab_size {}); "
        "hint: vocab.json and config.json come from different models",
        (dir / "vocab.json").string(),
        tokenizer.min_id() < 0 ? tokenizer.min_id() : tokenizer.max_id(),
        bundle.config.vocab_size - 1,
        bundle.config.vocab_size));
  }
  bundle.model = MarianMTModel(bundle.config);
  bundle.report =
      load_marian_weights(bundle.model, bundle.config, resolve_weights_file(dir, weights));
  return bundle;
}

LoadReport load_marian_weights(MarianMTModel& model, const MarianConfig& config,
                               const std::filesystem::path& file) {
  return load_state_dict(
      *model, drop_marian_redundant_keys(read_weights(file), config), LoadPolicy{}, file.string());
}

void save_marian_folder(const std::filesystem::path& out_dir, const MarianBundle& bundle,
                        c10::ScalarType dtype) {
  auto state = collect_state_dict(*bundle.model);
  if (bundle.config.tie_word_embeddings) {
    // Hugging Face's own state dict repeats the tied embedding under these names; writing them
    // keeps from_pretrained free of "newly initialized" warnings.
    const auto shared = state.at("model.shared.weight");
    for (const char* alias : {"model.encoder.embed_tokens.weight",
                              "model.decoder.embed_tokens.weight",
                              "lm_head.weight"}) {
      state[alias] = shared;
    }
  }
  write_model_files(out_dir, std::move(state), bundle.config.to_json(), dtype);
  for (const char* name : kTokenizerFiles) {
    const auto source = bundle.dir / name;
    if (!std::filesystem::exists(source)) continue;
    std::ifstream in(source, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    write_file_atomically(out_dir / name, content);
  }
}

}  // namespace ftune
