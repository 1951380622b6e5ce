// Loading and saving BERT masked-LM folders.
#include "lib/io/bert_mlm_folder.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "lib/io/bert_folder.h"
#include "lib/io/weights.h"
#include "util/error.h"

namespace ftune {

LoadReport load_masked_lm_weights(BertForMaskedLM& model, const BertConfig& config,
                                  const std::filesystem::path& file, bool allow_fresh_head) {
  auto tensors = drop_bert_mlm_tied_aliases(read_weights(file), config);
  LoadPolicy policy;
  if (allow_fresh_head) {
    policy.fresh_prefixes = {"bert.pooler.", "pooler.", "classifier."};
    policy.allow_missing_prefixes = {"cls."};
  }
  return load_state_dict(*model, tensors, policy, file.string());
}

MaskedLm load_masked_lm(const std::filesystem::path& model_dir,
                        const MaskedLmLoadOptions& options) {
  const bool from_config = options.config_file.has_value();
  if (from_config == !model_dir.empty()) {
    throw ConfigError(
        "checking pretrain options: give exactly one of --model DIR (a checkpoint) and "
        "--model-config FILE (random init)");
  }
  MaskedLm mlm;
  if (from_config) {
    mlm.config = BertConfig::read(options.config_file->string());
  } else {
    require_model_folder(model_dir);
    mlm.config = BertConfig::read((model_dir / "config.json").string());
  }
  // A classifier's labels mean nothing to the MLM; saving must not write them back.
  mlm.config.id2label.clear();
  for (const char* key : {"id2label", "label2id", "num_labels", "problem_type"}) {
    mlm.config.raw.erase(key);
  }
  mlm.config.problem_type.reset();
  torch::manual_seed(options.seed);
  mlm.model = BertForMaskedLM(mlm.config);
  init_bert_mlm_weights(*mlm.model, mlm.config);
  if (from_config) {
    mlm.note =
        fmt::format("masked LM initialized at random from {}", options.config_file->string());
    return mlm;
  }
  const auto file = resolve_weights_file(model_dir, options.weights);
  mlm.report = load_masked_lm_weights(mlm.model, mlm.config, file, /*allow_fresh_head=*/true);
  return mlm;
}

void save_masked_lm(const std::filesystem::path& out_dir, const MaskedLm& mlm,
                    const WordPieceTokenizer& tokenizer, c10::ScalarType dtype) {
  // Tied tensors once, as Hugging Face's safetensors files hold them (the decoder weight is the
  // word embedding matrix; its bias is cls.predictions.bias): half the size of a tiny model.
  auto config = mlm.config.to_json();
  config["architectures"] = {"BertForMaskedLM"};
  write_model_files(out_dir, collect_state_dict(*mlm.model), config, dtype);
  tokenizer.save_to_folder(out_dir.string());
}

}  // namespace ftune
