// Strict loading: every missing, unexpected and mis-shaped tensor is named; fresh heads and
// legacy key spellings are handled in one place each.
#include "lib/io/state_dict.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "lib/io/weights.h"
#include "models/bert.h"
#include "util/error.h"

namespace ftune {
namespace {

const char* kFixtureWeights = "tests/fixtures/bert-cls/model.safetensors";

BertForSequenceClassification make_fixture_model() {
  return BertForSequenceClassification(BertConfig::read("tests/fixtures/bert-cls/config.json"));
}

std::string load_error(torch::nn::Module& model, const std::map<std::string, at::Tensor>& tensors) {
  try {
    load_state_dict(model, tensors, LoadPolicy{}, "weights.safetensors");
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "";
}

TEST(Checkpoint, LoadsEveryFixtureTensorAndIgnoresPositionIds) {
  auto model = make_fixture_model();
  auto report =
      load_state_dict(*model, read_weights(kFixtureWeights), LoadPolicy{}, kFixtureWeights);
  EXPECT_TRUE(report.is_ok());
  EXPECT_EQ(report.loaded, 41);
  EXPECT_EQ(report.ignored, std::vector<std::string>{"bert.embeddings.position_ids"});
}

TEST(Checkpoint, NamesMissingTensor) {
  auto model = make_fixture_model();
  auto tensors = read_weights(kFixtureWeights);
  tensors.erase("bert.pooler.dense.weight");
  auto message = load_error(*model, tensors);
  EXPECT_NE(message.find("1 missing"), std::string::npos) << message;
  EXPECT_NE(message.find("bert.pooler.dense.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("weights.safetensors"), std::string::npos) << message;
}

TEST(Checkpoint, NamesUnexpectedTensor) {
  auto model = make_fixture_model();
  auto tensors = read_weights(kFixtureWeights);
  tensors["bert.encoder.layer.7.output.dense.weight"] = torch::zeros({2, 2});
  auto message = load_error(*model, tensors);
  EXPECT_NE(message.find("1 unexpected"), std::string::npos) << message;
  EXPECT_NE(message.find("bert.encoder.layer.7.output.dense.weight"), std::string::npos) << message;
}

TEST(Checkpoint, NamesMisShapedTensorWithBothShapes) {
  auto model = make_fixture_model();
  auto tensors = read_weights(kFixtureWeights);
  tensors["bert.pooler.dense.weight"] = torch::zeros({32, 64});
  auto message = load_error(*model, tensors);
  EXPECT_NE(message.find("bert.pooler.dense.weight: expected [64, 64], got [32, 64]"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("different models"), std::string::npos) << message;
}

TEST(Checkpoint, FreshHeadIsReportedAndTheFilesHeadDropped) {
  auto config = BertConfig::read("tests/fixtures/bert-cls/config.json");
  config.id2label = {"a", "b", "c", "d", "e"};
  BertForSequenceClassification model(config);
  LoadPolicy policy;
  policy.fresh_prefixes = {"classifier."};
  auto report = load_state_dict(*model, read_weights(kFixtureWeights), policy, kFixtureWeights);
  EXPECT_EQ(report.initialized_fresh,
            (std::vector<std::string>{"classifier.bias", "classifier.weight"}));
  EXPECT_EQ(report.dropped, (std::vector<std::string>{"classifier.bias", "classifier.weight"}));
}

TEST(Checkpoint, LegacyGammaBetaAndBareEncoderKeysLoad) {
  auto tensors = read_weights(kFixtureWeights);
  std::map<std::string, at::Tensor> legacy;
  for (const auto& [name, tensor] : tensors) {
    if (name.rfind("bert.", 0) != 0) continue;  // a bare encoder checkpoint: no head, no prefix
    std::string key = name.substr(5);
    auto pos = key.find("LayerNorm.weight");
    if (pos != std::string::npos) key.replace(pos, 16, "LayerNorm.gamma");
    pos = key.find("LayerNorm.bias");
    if (pos != std::string::npos) key.replace(pos, 14, "LayerNorm.beta");
    legacy[key] = tensor;
  }
  auto model = make_fixture_model();
  LoadPolicy policy;
  policy.allow_missing_prefixes = {"classifier."};
  auto report = load_state_dict(*model, legacy, policy, "legacy.bin");
  EXPECT_TRUE(report.is_ok()) << report.format();
  EXPECT_EQ(report.loaded, 39);
  EXPECT_TRUE(torch::equal(model->bert->embeddings->LayerNorm->weight,
                           tensors.at("bert.embeddings.LayerNorm.weight")));
}

TEST(BertConfig, RejectsHiddenSizeNotDivisibleByHeads) {
  auto json = nlohmann::json::parse(R"({"vocab_size": 10, "hidden_size": 30, "num_hidden_layers": 1,
    "num_attention_heads": 4, "intermediate_size": 8})");
  try {
    BertConfig::from_json(json, "config.json");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(
        std::string(e.what()).find("hidden_size 30 is not divisible by num_attention_heads 4"),
        std::string::npos)
        << e.what();
  }
}

TEST(BertConfig, RejectsMissingKeyWrongTypeAndUnsupportedVariants) {
  auto base = nlohmann::json::parse(R"({"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "intermediate_size": 8})");
  auto expect_error = [](nlohmann::json json, const std::string& needle) {
    try {
      BertConfig::from_json(json, "cfg.json");
      ADD_FAILURE() << "expected ConfigError mentioning " << needle;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("cfg.json"), std::string::npos) << e.what();
    }
  };
  auto missing = base;
  missing.erase("hidden_size");
  expect_error(missing, "required key 'hidden_size' is missing");
  auto wrong_type = base;
  wrong_type["num_hidden_layers"] = "two";
  expect_error(wrong_type, "key 'num_hidden_layers': expected an integer");
  auto negative = base;
  negative["intermediate_size"] = -8;
  expect_error(negative, "key 'intermediate_size': expected a positive value, got -8");
  auto relative = base;
  relative["position_embedding_type"] = "relative_key";
  expect_error(relative,
               "position_embedding_type 'relative_key' is not supported (only 'absolute')");
  auto unknown_problem = base;
  unknown_problem["problem_type"] = "token_classification";
  expect_error(unknown_problem, "problem_type 'token_classification' is not supported");
  auto thresholds = base;
  thresholds["id2label"] = {{"0", "joy"}, {"1", "anger"}};
  thresholds["label_thresholds"] = {{"joy", 0.3}, {"fear", 0.4}};
  expect_error(thresholds, "label_thresholds names 'fear', which is not in id2label");
  thresholds["label_thresholds"] = {{"joy", 1.5}};
  expect_error(thresholds, "label_thresholds['joy']: expected a number from 0 to 1, got 1.5");
  auto regression_with_labels = base;
  regression_with_labels["problem_type"] = "regression";
  regression_with_labels["id2label"] = {{"0", "low"}, {"1", "high"}};
  expect_error(regression_with_labels,
               "problem_type 'regression' has one output, but id2label names 2 labels");
}

TEST(BertConfig, ReadsLabelsAndWritesThemBack) {
  auto config = BertConfig::read("tests/fixtures/bert-cls/config.json");
  EXPECT_EQ(config.id2label, (std::vector<std::string>{"balance", "transfer", "oos"}));
  auto json = config.to_json();
  EXPECT_EQ(json["label2id"]["oos"], 2);
  EXPECT_EQ(json["id2label"]["1"], "transfer");
  EXPECT_EQ(json["hidden_size"], 64);
}

}  // namespace
}  // namespace ftune
