// Golden tests: our BERT against Hugging Face's outputs recorded in tests/fixtures/bert-cls and
// bert-torchscript (logits, loss, pooled output, last hidden state), from every weights format.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "lib/io/state_dict.h"
#include "lib/io/weights.h"
#include "models/bert.h"
#include "tests/common/tensor_testing.h"

namespace ftune {
namespace {

using testing::json_to_tensor;
using testing::read_json_file;
using testing::tensors_close;

constexpr double kRelativeTolerance = 1e-5;
constexpr double kAbsoluteTolerance = 1e-6;

struct FixtureBatch {
  torch::Tensor input_ids, attention_mask, token_type_ids, label_ids;
};

FixtureBatch read_batch(const std::string& folder) {
  auto inputs = read_json_file(folder + "/inputs.json");
  FixtureBatch batch;
  batch.input_ids = json_to_tensor(inputs["input_ids"], torch::kLong);
  batch.attention_mask = json_to_tensor(inputs["attention_mask"], torch::kLong);
  batch.token_type_ids = json_to_tensor(inputs["token_type_ids"], torch::kLong);
  if (inputs.contains("label_ids"))
    batch.label_ids = json_to_tensor(inputs["label_ids"], torch::kLong);
  return batch;
}

BertForSequenceClassification load_fixture_classifier(const std::string& folder,
                                                      const std::string& weights_file) {
  auto config = BertConfig::read(folder + "/config.json");
  BertForSequenceClassification model(config);
  load_state_dict(*model, read_weights(folder + "/" + weights_file), LoadPolicy{}, weights_file);
  model->eval();
  return model;
}

class BertClsParity : public ::testing::TestWithParam<std::string> {};

TEST_P(BertClsParity, MatchesHuggingFaceLogitsLossPooledAndHiddenStates) {
  const std::string folder = "tests/fixtures/bert-cls";
  auto model = load_fixture_classifier(folder, GetParam());
  auto batch = read_batch(folder);
  auto expected = read_json_file(folder + "/expected.json");
  torch::NoGradGuard no_grad;

  auto logits = model(batch.input_ids, batch.attention_mask, batch.token_type_ids);
  EXPECT_TRUE(tensors_close(
      logits, json_to_tensor(expected["logits"]), kRelativeTolerance, kAbsoluteTolerance));
  auto loss = torch::cross_entropy_loss(logits, batch.label_ids);
  EXPECT_TRUE(tensors_close(
      loss, torch::tensor(expected["loss"].get<double>()), kRelativeTolerance, kAbsoluteTolerance));

  auto outputs = model->bert(batch.input_ids, batch.attention_mask, batch.token_type_ids);
  EXPECT_TRUE(tensors_close(outputs.pooled_output[0],
                            json_to_tensor(expected["pooled_output_0"]),
                            kRelativeTolerance,
                            kAbsoluteTolerance));
  EXPECT_TRUE(tensors_close(outputs.last_hidden_state[0],
                            json_to_tensor(expected["last_hidden_state_0"]),
                            kRelativeTolerance,
                            kAbsoluteTolerance));
}

INSTANTIATE_TEST_SUITE_P(EveryWeightsFormat, BertClsParity,
                         ::testing::Values("model.safetensors", "pytorch_model.bin",
                                           "pytorch_model_legacy.bin"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(BertTorchScript, ImportedParametersReproduceTracedLogits) {
  const std::string folder = "tests/fixtures/bert-torchscript";
  auto model = load_fixture_classifier(folder, "traced_bert.pt");
  auto batch = read_batch(folder);
  auto expected = read_json_file(folder + "/expected.json");
  torch::NoGradGuard no_grad;
  auto logits = model(batch.input_ids, batch.attention_mask, batch.token_type_ids);
  EXPECT_TRUE(tensors_close(
      logits, json_to_tensor(expected["logits"]), kRelativeTolerance, kAbsoluteTolerance));
}

TEST(BertTorchScript, TracedModuleItselfReproducesLogits) {
  const std::string folder = "tests/fixtures/bert-torchscript";
  auto module = torch::jit::load(folder + "/traced_bert.pt");
  module.eval();
  auto batch = read_batch(folder);
  auto expected = read_json_file(folder + "/expected.json");
  torch::NoGradGuard no_grad;
  auto output = module.forward({batch.input_ids, batch.attention_mask, batch.token_type_ids});
  auto logits = output.isTuple() ? output.toTuple()->elements()[0].toTensor() : output.toTensor();
  EXPECT_TRUE(tensors_close(
      logits, json_to_tensor(expected["logits"]), kRelativeTolerance, kAbsoluteTolerance));
}

TEST(BertModel, PaddingPositionsDoNotChangeRealTokens) {
  BertConfig config;
  config.vocab_size = 50;
  config.hidden_size = 16;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 2;
  config.intermediate_size = 32;
  config.max_position_embeddings = 16;
  config.hidden_dropout_prob = 0.0;
  config.attention_probs_dropout_prob = 0.0;
  torch::manual_seed(0);
  BertModel model(config);
  model->eval();
  torch::NoGradGuard no_grad;
  auto short_ids = torch::tensor({{2, 7, 9, 3}}, torch::kLong);
  auto long_ids = torch::tensor({{2, 7, 9, 3, 0, 0}}, torch::kLong);
  auto short_out =
      model(short_ids, torch::ones({1, 4}, torch::kLong), torch::zeros({1, 4}, torch::kLong));
  auto long_out = model(long_ids,
                        torch::tensor({{1, 1, 1, 1, 0, 0}}, torch::kLong),
                        torch::zeros({1, 6}, torch::kLong));
  EXPECT_TRUE(tensors_close(
      long_out.last_hidden_state.slice(1, 0, 4), short_out.last_hidden_state, 1e-5, 1e-6));
  EXPECT_TRUE(tensors_close(long_out.pooled_output, short_out.pooled_output, 1e-5, 1e-6));
  EXPECT_EQ(long_out.last_hidden_state.sizes(), (std::vector<int64_t>{1, 6, 16}));
}

TEST(BertModel, SkippingPaddingGivesTheSameRealTokensAndGradients) {
  // The fixture batch pads 16 rows of 9-17 tokens to 32: the real-token path must agree with
  // the every-position path (Hugging Face's) on every real token, forward and backward.
  const std::string folder = "tests/fixtures/bert-cls";
  auto classifier = load_fixture_classifier(folder, "model.safetensors");
  auto batch = read_batch(folder);
  ASSERT_LT(batch.attention_mask.sum().item<int64_t>(), batch.attention_mask.numel());
  BertModel model = classifier->bert;
  auto real = batch.attention_mask.unsqueeze(-1).to(torch::kFloat);  // (B, T, 1)
  std::vector<torch::Tensor> hidden, grads;
  for (bool skip : {false, true}) {
    model->zero_grad();
    auto out = model(batch.input_ids, batch.attention_mask, batch.token_type_ids, skip);
    (out.last_hidden_state * real).pow(2).sum().backward();
    hidden.push_back(out.last_hidden_state * real);
    grads.push_back(
        model->encoder->named_parameters()["layer.0.attention.self.query.weight"].grad().clone());
  }
  EXPECT_TRUE(tensors_close(hidden[1], hidden[0], 1e-5, 1e-6));
  EXPECT_TRUE(tensors_close(grads[1], grads[0], 1e-5, 1e-6));
  auto skipped = model(batch.input_ids, batch.attention_mask, batch.token_type_ids, true);
  EXPECT_EQ((skipped.last_hidden_state * (1 - real)).abs().sum().item<double>(), 0.0);
}

TEST(BertModel, RegisteredNamesAreHuggingFaceCheckpointKeys) {
  auto config = BertConfig::read("tests/fixtures/bert-cls/config.json");
  BertForSequenceClassification model(config);
  auto params = model->named_parameters();
  for (const char* key : {"bert.embeddings.word_embeddings.weight",
                          "bert.embeddings.LayerNorm.weight",
                          "bert.encoder.layer.1.attention.self.query.weight",
                          "bert.encoder.layer.0.attention.output.LayerNorm.bias",
                          "bert.encoder.layer.0.intermediate.dense.weight",
                          "bert.encoder.layer.1.output.dense.bias",
                          "bert.pooler.dense.weight",
                          "classifier.bias"}) {
    EXPECT_NE(params.find(key), nullptr) << key;
  }
  EXPECT_EQ(params.size(), 41u);  // 17 decay + 24 no-decay names in train_expected.json
}

}  // namespace
}  // namespace ftune
