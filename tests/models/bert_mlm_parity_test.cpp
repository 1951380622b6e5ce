// Golden tests: our BertForMaskedLM against Hugging Face's outputs recorded in
// tests/fixtures/bert-mlm (loss, per-example loss, per-position logits), from both weights files
// (tied aliases stored twice in the .bin, once in the safetensors), and the tied-key handling.
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "lib/io/state_dict.h"
#include "lib/io/weights.h"
#include "lib/train/optim.h"
#include "models/bert_mlm.h"
#include "tests/common/tensor_testing.h"

namespace ftune {
namespace {

using testing::json_to_tensor;
using testing::read_json_file;
using testing::tensors_close;

constexpr double kRelativeTolerance = 1e-5;
constexpr double kAbsoluteTolerance = 1e-6;
const std::string kFolder = "tests/fixtures/bert-mlm";

struct MaskedBatch {
  torch::Tensor input_ids, attention_mask, token_type_ids, labels;  // (N, 32)
};

// expected.json holds Python's NaN (per_example_loss of an example without masked positions),
// which is not JSON; read it as null.
nlohmann::json read_json_with_nan(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t at = text.find("NaN"); at != std::string::npos; at = text.find("NaN", at)) {
    text.replace(at, 3, "null");
  }
  return nlohmann::json::parse(text);
}

MaskedBatch read_masked_batch() {
  auto inputs = read_json_file(kFolder + "/inputs.json");
  return {json_to_tensor(inputs["input_ids"], torch::kLong),
          json_to_tensor(inputs["attention_mask"], torch::kLong),
          json_to_tensor(inputs["token_type_ids"], torch::kLong),
          json_to_tensor(inputs["labels"], torch::kLong)};
}

BertForMaskedLM load_fixture_mlm(const std::string& weights_file, LoadReport* report = nullptr) {
  auto config = BertConfig::read(kFolder + "/config.json");
  BertForMaskedLM model(config);
  auto tensors = drop_bert_mlm_tied_aliases(read_weights(kFolder + "/" + weights_file), config);
  auto loaded = load_state_dict(*model, tensors, LoadPolicy{}, weights_file);
  if (report) *report = loaded;
  model->eval();
  return model;
}

class BertMlmParity : public ::testing::TestWithParam<std::string> {};

TEST_P(BertMlmParity, MatchesHuggingFaceLossAndLogitsAtEveryMaskedPosition) {
  LoadReport report;
  auto model = load_fixture_mlm(GetParam(), &report);
  EXPECT_TRUE(report.is_ok()) << report.format();
  EXPECT_TRUE(report.initialized_fresh.empty()) << report.format();
  auto batch = read_masked_batch();
  auto expected = read_json_with_nan(kFolder + "/expected.json");
  torch::NoGradGuard no_grad;

  auto loss = model->compute_loss(
      batch.input_ids, batch.attention_mask, batch.token_type_ids, batch.labels);
  EXPECT_TRUE(
      tensors_close(loss, torch::tensor(expected["loss"].get<double>()), kRelativeTolerance, 0.0));

  auto logits = model(batch.input_ids, batch.attention_mask, batch.token_type_ids);  // (N, T, V)
  ASSERT_EQ(logits.size(2), expected["vocab_size"].get<int64_t>());
  // The full-logits path gives the same loss as the masked-positions-only path.
  auto full_loss = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(2)}),
                                                        batch.labels.reshape({-1}));
  EXPECT_TRUE(tensors_close(
      full_loss, torch::tensor(expected["loss"].get<double>()), kRelativeTolerance, 0.0));

  const auto& first = expected["first_masked_example0"];
  EXPECT_TRUE(tensors_close(logits[0][first["position"].get<int64_t>()],
                            json_to_tensor(first["logits"]),
                            kRelativeTolerance,
                            kAbsoluteTolerance));

  ASSERT_EQ(expected["masked"].size(), expected["n_masked"].get<size_t>());
  auto log_probs = torch::log_softmax(logits, /*dim=*/-1);
  for (const auto& record : expected["masked"]) {
    const auto e = record["example"].get<int64_t>();
    const auto t = record["position"].get<int64_t>();
    const auto label = record["label"].get<int64_t>();
    SCOPED_TRACE(::testing::Message() << "example " << e << " position " << t);
    EXPECT_EQ(batch.labels[e][t].item<int64_t>(), label);
    EXPECT_NEAR(
        logits[e][t][label].item<double>(),
        record["label_logit"].get<double>(),
        kRelativeTolerance * std::abs(record["label_logit"].get<double>()) + kAbsoluteTolerance);
    EXPECT_NEAR(log_probs[e][t][label].item<double>(),
                record["label_log_softmax"].get<double>(),
                kRelativeTolerance * std::abs(record["label_log_softmax"].get<double>()));
    auto top = logits[e][t].topk(5);
    EXPECT_TRUE(torch::equal(std::get<1>(top).to(torch::kLong),
                             json_to_tensor(record["top5_ids"], torch::kLong)))
        << "top-5 ids " << std::get<1>(top);
    EXPECT_TRUE(tensors_close(std::get<0>(top),
                              json_to_tensor(record["top5_logits"]),
                              kRelativeTolerance,
                              kAbsoluteTolerance));
  }

  for (int64_t e = 0; e < batch.input_ids.size(0); ++e) {
    const auto& want = expected["per_example_loss"][e];
    if (want.is_null()) {  // JSON null: no masked position in this example (HF's NaN)
      EXPECT_EQ(batch.labels[e].ne(kIgnoreLabel).sum().item<int64_t>(), 0) << "example " << e;
      continue;
    }
    auto example_loss = model->compute_loss(batch.input_ids.slice(0, e, e + 1),
                                            batch.attention_mask.slice(0, e, e + 1),
                                            batch.token_type_ids.slice(0, e, e + 1),
                                            batch.labels.slice(0, e, e + 1));
    EXPECT_NEAR(example_loss.item<double>(),
                want.get<double>(),
                kRelativeTolerance * std::abs(want.get<double>()))
        << "example " << e;
  }
}

INSTANTIATE_TEST_SUITE_P(TiedKeysStoredOnceOrTwice, BertMlmParity,
                         ::testing::Values("model.safetensors", "pytorch_model.bin"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(BertMlm, DecoderIsTheWordEmbeddingAndEachTiedTensorIsOneParameter) {
  auto model = load_fixture_mlm("pytorch_model.bin");
  EXPECT_TRUE(model->output_embeddings().is_same(model->bert->embeddings->word_embeddings->weight));
  auto params = model->named_parameters();
  EXPECT_EQ(params.find("cls.predictions.decoder.weight"), nullptr);
  EXPECT_EQ(params.find("cls.predictions.decoder.bias"), nullptr);
  EXPECT_EQ(params.find("bert.pooler.dense.weight"), nullptr);  // HF: add_pooling_layer=False
  EXPECT_NE(params.find("cls.predictions.bias"), nullptr);
  EXPECT_NE(params.find("cls.predictions.transform.LayerNorm.weight"), nullptr);

  // Hugging Face's Trainer groups, as recorded with the training trajectory.
  auto expected = read_json_with_nan(kFolder + "/train_expected.json");
  auto groups = split_decay_groups(*model);
  EXPECT_EQ(groups.decay_names, expected["decay_parameter_names"].get<std::vector<std::string>>());
  EXPECT_EQ(groups.no_decay_names,
            expected["no_decay_parameter_names"].get<std::vector<std::string>>());
}

TEST(BertMlm, SavedStateDictHasHuggingFaceKeysWithTheTiedAliases) {
  auto config = BertConfig::read(kFolder + "/config.json");
  auto model = load_fixture_mlm("model.safetensors");
  auto saved = add_bert_mlm_tied_aliases(collect_state_dict(*model), config);
  auto reference = read_weights(kFolder + "/pytorch_model.bin");  // HF's state_dict
  std::vector<std::string> saved_keys, reference_keys;
  for (const auto& [key, value] : saved) saved_keys.push_back(key);
  for (const auto& [key, value] : reference) {
    if (key != "bert.embeddings.position_ids")
      reference_keys.push_back(key);  // computed, as BERT's
  }
  EXPECT_EQ(saved_keys, reference_keys);
  for (const auto& [key, value] : reference) {
    if (value.is_floating_point() && saved.count(key)) {
      EXPECT_TRUE(torch::equal(saved.at(key), value)) << key;
    }
  }
}

TEST(BertMlm, DecoderWeightThatDiffersFromTheEmbeddingsIsRejectedByName) {
  auto config = BertConfig::read(kFolder + "/config.json");
  auto tensors = read_weights(kFolder + "/pytorch_model.bin");
  tensors["cls.predictions.decoder.weight"] = tensors["cls.predictions.decoder.weight"].clone() + 1;
  try {
    drop_bert_mlm_tied_aliases(tensors, config);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cls.predictions.decoder.weight"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("tie_word_embeddings"), std::string::npos) << e.what();
  }
}

TEST(BertMlm, FileWithOnlyTheDecoderAliasesLoadsThemAsTheCanonicalTensors) {
  auto config = BertConfig::read(kFolder + "/config.json");
  auto tensors = read_weights(kFolder + "/pytorch_model.bin");
  tensors.erase("cls.predictions.bias");
  auto kept = drop_bert_mlm_tied_aliases(tensors, config);
  EXPECT_EQ(kept.count("cls.predictions.decoder.bias"), 0u);
  ASSERT_EQ(kept.count("cls.predictions.bias"), 1u);
  EXPECT_TRUE(
      torch::equal(kept.at("cls.predictions.bias"), tensors.at("cls.predictions.decoder.bias")));
}

TEST(BertMlm, UntiedConfigRegistersItsOwnDecoder) {
  auto config = BertConfig::read(kFolder + "/config.json");
  config.raw["tie_word_embeddings"] = false;
  BertForMaskedLM model(config);
  auto params = model->named_parameters();
  EXPECT_NE(params.find("cls.predictions.decoder.weight"), nullptr);
  EXPECT_FALSE(
      model->output_embeddings().is_same(model->bert->embeddings->word_embeddings->weight));
  // The .bin's decoder weight then loads as a tensor of its own.
  auto tensors = drop_bert_mlm_tied_aliases(read_weights(kFolder + "/pytorch_model.bin"), config);
  EXPECT_EQ(tensors.count("cls.predictions.decoder.weight"), 1u);
  auto report = load_state_dict(*model, tensors, LoadPolicy{}, "pytorch_model.bin");
  EXPECT_TRUE(report.is_ok()) << report.format();
}

TEST(BertMlm, LossOfABatchWithoutMaskedPositionsIsZeroAndDifferentiable) {
  auto model = load_fixture_mlm("model.safetensors");
  auto ids = torch::tensor({{101, 2023, 102}}, torch::kLong);
  auto loss = model->compute_loss(
      ids, torch::ones_like(ids), torch::zeros_like(ids), torch::full_like(ids, kIgnoreLabel));
  EXPECT_EQ(loss.item<double>(), 0.0);
  EXPECT_TRUE(loss.requires_grad());
  loss.backward();
}

}  // namespace
}  // namespace ftune
