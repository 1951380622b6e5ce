// Golden tests: our MarianMTModel against Hugging Face's outputs recorded in
// tests/fixtures/marian-mt (teacher-forced logits and losses), incremental decoding with the
// key/value cache against teacher forcing, the tied embedding counted once, config validation.
#include <cmath>
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "lib/io/state_dict.h"
#include "lib/io/weights.h"
#include "models/linear.h"
#include "models/marian.h"
#include "tests/common/tensor_testing.h"
#include "util/error.h"

namespace ftune {
namespace {

using testing::json_to_tensor;
using testing::read_json_file;
using testing::tensors_close;

const std::string kFolder = "tests/fixtures/marian-mt";
constexpr double kRelativeTolerance = 1e-5;
// Logits are O(10) and near-zero ones exist; 1e-5 absolute is float32 noise after 4 layers.
constexpr double kAbsoluteTolerance = 1e-5;

struct FixtureBatch {
  torch::Tensor input_ids, attention_mask, labels, decoder_input_ids;
};

FixtureBatch read_batch() {
  auto inputs = read_json_file(kFolder + "/inputs.json");
  return {json_to_tensor(inputs["input_ids"], torch::kLong),
          json_to_tensor(inputs["attention_mask"], torch::kLong),
          json_to_tensor(inputs["labels"], torch::kLong),
          json_to_tensor(inputs["decoder_input_ids"], torch::kLong)};
}

MarianMTModel load_fixture_model() {
  auto config = MarianConfig::read(kFolder + "/config.json");
  MarianMTModel model(config);
  auto weights = drop_marian_redundant_keys(read_weights(kFolder + "/pytorch_model.bin"), config);
  load_state_dict(*model, weights, LoadPolicy{}, "pytorch_model.bin");
  model->eval();
  return model;
}

torch::Tensor scalar(const nlohmann::json& value) { return torch::tensor(value.get<double>()); }

TEST(MarianParity, MatchesHuggingFaceTeacherForcedLogitsAndLosses) {
  auto model = load_fixture_model();
  auto batch = read_batch();
  auto expected = read_json_file(kFolder + "/expected.json");
  torch::NoGradGuard no_grad;

  auto logits = model(batch.input_ids, batch.attention_mask, batch.decoder_input_ids);  // (B,S,V)
  const auto V = logits.size(2);
  EXPECT_EQ(V, model->config.vocab_size);
  EXPECT_TRUE(tensors_close(
      logits[0], json_to_tensor(expected["logits_0"]), kRelativeTolerance, kAbsoluteTolerance));

  namespace F = torch::nn::functional;
  auto flat_logits = logits.reshape({-1, V});  // (B * S, V)
  auto flat_labels = batch.labels.reshape({-1});
  auto loss =
      F::cross_entropy(flat_logits, flat_labels, F::CrossEntropyFuncOptions().ignore_index(-100));
  EXPECT_TRUE(tensors_close(loss, scalar(expected["loss"]), kRelativeTolerance, 0.0));
  auto smoothed =
      F::cross_entropy(flat_logits,
                       flat_labels,
                       F::CrossEntropyFuncOptions().ignore_index(-100).label_smoothing(0.1));
  EXPECT_TRUE(
      tensors_close(smoothed, scalar(expected["loss_label_smoothed"]), kRelativeTolerance, 0.0));

  auto token_loss = F::cross_entropy(
      flat_logits,
      flat_labels,
      F::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kNone));  // (B * S)
  auto valid = batch.labels.ne(-100).to(torch::kFloat);                          // (B, S)
  auto per_example = token_loss.view_as(valid).sum(1) / valid.sum(1);            // (B)
  EXPECT_TRUE(tensors_close(
      per_example, json_to_tensor(expected["per_example_loss"]), kRelativeTolerance, 0.0));
}

// With every Linear and the lm_head on oneDNN's packed float32 GEMM (the torch2 build's default
// for inference on the CPU), the logits are still Hugging Face's.
TEST(MarianParity, OnednnPackedModelMatchesHuggingFaceLogits) {
  if (!onednn_linear_available()) {
    GTEST_SKIP() << "this LibTorch has no mkldnn::_linear_pointwise (LibTorch 1.13)";
  }
  auto model = load_fixture_model();
  auto batch = read_batch();
  auto expected = read_json_file(kFolder + "/expected.json");
  torch::NoGradGuard no_grad;
  // 2 encoder layers x 6 Linear + 2 decoder layers x 10, and the tied lm_head.
  EXPECT_EQ(model->pack_onednn(), 33);
  auto logits = model(batch.input_ids, batch.attention_mask, batch.decoder_input_ids);  // (B,S,V)
  EXPECT_TRUE(tensors_close(
      logits[0], json_to_tensor(expected["logits_0"]), kRelativeTolerance, kAbsoluteTolerance));
}

TEST(MarianParity, ShiftTokensRightGivesTheFixtureDecoderInputs) {
  auto config = MarianConfig::read(kFolder + "/config.json");
  auto batch = read_batch();
  auto shifted =
      shift_tokens_right(batch.labels, config.pad_token_id, config.decoder_start_token_id);
  EXPECT_TRUE(torch::equal(shifted, batch.decoder_input_ids));
  EXPECT_TRUE(torch::equal(shift_tokens_right(torch::tensor({{5, -100, 7}}),
                                              /*pad_token_id=*/9,
                                              /*decoder_start_token_id=*/3),
                           torch::tensor({{3, 5, 9}})));
}

TEST(MarianParity, CachedIncrementalDecodingMatchesTeacherForcing) {
  auto model = load_fixture_model();
  auto batch = read_batch();
  torch::NoGradGuard no_grad;
  auto full = model(batch.input_ids, batch.attention_mask, batch.decoder_input_ids);  // (B,S,V)

  auto encoder_hidden = model->encode(batch.input_ids, batch.attention_mask);  // (B, T, C)
  MarianCache cache;
  const auto S = batch.decoder_input_ids.size(1);
  for (int64_t s = 0; s < S; ++s) {
    auto step_ids = batch.decoder_input_ids.narrow(1, s, 1);                            // (B, 1)
    auto step = model->decode(step_ids, encoder_hidden, batch.attention_mask, &cache);  // (B,1,V)
    ASSERT_TRUE(tensors_close(step, full.narrow(1, s, 1), kRelativeTolerance, kAbsoluteTolerance))
        << "at decoder position " << s;
    EXPECT_EQ(cache.length, s + 1);
    EXPECT_EQ(cache.layers[0].self_k().size(2), s + 1);  // (B, H, S, D): one step appended
  }
  // Cross-attention K/V are computed once, from the encoder output: (B, H, T, D).
  EXPECT_EQ(cache.layers.back().cross_k.size(2), batch.input_ids.size(1));

  // A prefix in one call, then single steps: positions continue at cache.length.
  MarianCache split;
  auto head = model->decode(batch.decoder_input_ids.narrow(1, 0, 5),
                            encoder_hidden,
                            batch.attention_mask,
                            &split);  // (B, 5, V)
  EXPECT_TRUE(tensors_close(head, full.narrow(1, 0, 5), kRelativeTolerance, kAbsoluteTolerance));
  auto tail = model->decode(batch.decoder_input_ids.narrow(1, 5, 3),
                            encoder_hidden,
                            batch.attention_mask,
                            &split);  // (B, 3, V)
  EXPECT_TRUE(tensors_close(tail, full.narrow(1, 5, 3), kRelativeTolerance, kAbsoluteTolerance));
}

TEST(MarianParity, CacheReorderFollowsTheSelectedHypotheses) {
  auto model = load_fixture_model();
  auto batch = read_batch();
  torch::NoGradGuard no_grad;
  auto full = model(batch.input_ids, batch.attention_mask, batch.decoder_input_ids);  // (B,S,V)
  auto encoder_hidden = model->encode(batch.input_ids, batch.attention_mask);         // (B,T,C)
  MarianCache cache;
  model->decode(
      batch.decoder_input_ids.narrow(1, 0, 3), encoder_hidden, batch.attention_mask, &cache);
  auto order = torch::tensor({2, 2, 0}, torch::kLong);  // beam search: keep 2 twice, then 0
  cache.reorder(order);
  auto step = model->decode(batch.decoder_input_ids.index_select(0, order).narrow(1, 3, 1),
                            at::Tensor(),
                            batch.attention_mask.index_select(0, order),
                            &cache);  // (3, 1, V)
  EXPECT_TRUE(tensors_close(
      step, full.index_select(0, order).narrow(1, 3, 1), kRelativeTolerance, kAbsoluteTolerance));
}

// restrict_vocab packs a batch's subset as pack_onednn packed the model, under the same size
// threshold (the torch2 build's `auto` keeps small products on BLAS): a subset below it stays
// dense, one above it is packed, and both give the full projection's columns of those tokens.
TEST(MarianModel, VocabSubsetsArePackedAboveTheSizeThresholdOnly) {
  if (!onednn_linear_available()) GTEST_SKIP() << "this build has no oneDNN linear";
  auto model = load_fixture_model();
  torch::NoGradGuard no_grad;
  torch::manual_seed(5);
  const auto hidden = torch::randn({3, 1, model->config.d_model});
  const auto full = model->project_to_vocab(hidden);  // (3, 1, V) before any packing
  model->decode_through_subsets_only();
  model->pack_onednn(/*min_weight_elements=*/64 * 64);  // the fixture's d_model is 64
  std::vector<int64_t> few(10);
  std::vector<int64_t> many(100);
  for (int64_t i = 0; i < 100; ++i) {
    if (i < 10) few[static_cast<size_t>(i)] = 7 * i;
    many[static_cast<size_t>(i)] = 11 * i;
  }
  for (const auto& ids : {few, many}) {
    const auto subset = model->restrict_vocab(ids);
    EXPECT_EQ(subset.onednn != nullptr, ids.size() * 64 >= 64 * 64) << ids.size() << " ids";
    const auto expected = full.index_select(2, torch::tensor(ids, torch::kLong));
    EXPECT_TRUE(tensors_close(
        model->project_to_vocab(hidden, &subset), expected, kRelativeTolerance, kAbsoluteTolerance))
        << ids.size() << " ids";
  }
}

TEST(MarianModel, ListsEveryHuggingFaceParameterOnceWithOneSharedEmbedding) {
  auto model = load_fixture_model();
  auto train_expected = read_json_file(kFolder + "/train_expected.json");
  std::multiset<std::string> expected_names;
  for (const char* group : {"decay_parameter_names", "no_decay_parameter_names"}) {
    for (const auto& name : train_expected[group]) {
      // HF lists the static positions (requires_grad=False); ours are computed, not parameters.
      if (name.get<std::string>().find("embed_positions") != std::string::npos) continue;
      expected_names.insert(name.get<std::string>());
    }
  }
  std::multiset<std::string> names;
  for (const auto& item : model->named_parameters(/*recurse=*/true)) names.insert(item.key());
  EXPECT_EQ(names, expected_names);
  EXPECT_EQ(names.count("model.shared.weight"), 1u);
  EXPECT_EQ(names.count("lm_head.weight"), 0u);

  // One tensor behind the encoder, decoder and output embeddings, so training moves them together.
  const void* shared = model->model->shared->weight.data_ptr();
  EXPECT_EQ(model->model->encoder->embed_tokens->weight.data_ptr(), shared);
  EXPECT_EQ(model->model->decoder->embed_tokens->weight.data_ptr(), shared);
  EXPECT_EQ(model->output_embedding_weight().data_ptr(), shared);

  std::set<std::string> buffers;
  for (const auto& item : model->named_buffers(/*recurse=*/true)) buffers.insert(item.key());
  EXPECT_EQ(buffers, std::set<std::string>{"final_logits_bias"});
}

// The tied weight collects gradient from the encoder and decoder lookups (not at the padding row,
// HF's padding_idx) and from lm_head, and counts once in the norm: HF's first training step.
TEST(MarianModel, FirstTrainingStepHasHuggingFacesLossAndGradientNorm) {
  auto model = load_fixture_model();
  model->train();  // config.json has every dropout at 0, so train mode == eval mode
  auto batch = read_batch();
  auto train_expected = read_json_file(kFolder + "/train_expected.json");
  const auto& first = train_expected["steps"][0];
  auto rows =
      json_to_tensor(train_expected["batches"][first["batch"].get<int64_t>()], torch::kLong);
  auto labels = batch.labels.index_select(0, rows);  // (4, S)
  auto decoder_input_ids =
      shift_tokens_right(labels, model->config.pad_token_id, model->config.decoder_start_token_id);
  auto logits = model(batch.input_ids.index_select(0, rows),
                      batch.attention_mask.index_select(0, rows),
                      decoder_input_ids);  // (4,S,V)
  namespace F = torch::nn::functional;
  auto loss =
      F::cross_entropy(logits.reshape({-1, logits.size(2)}),
                       labels.reshape({-1}),
                       F::CrossEntropyFuncOptions().ignore_index(-100).label_smoothing(0.1));
  loss.backward();
  EXPECT_TRUE(tensors_close(loss.detach(), scalar(first["loss"]), kRelativeTolerance, 0.0));
  double squared = 0.0;
  for (const auto& parameter : model->parameters()) {
    if (parameter.grad().defined()) squared += parameter.grad().pow(2).sum().item<double>();
  }
  EXPECT_TRUE(tensors_close(
      torch::tensor(std::sqrt(squared)), scalar(first["grad_norm"]), kRelativeTolerance, 0.0));
}

TEST(MarianModel, RejectsATiedAliasThatDiffersFromTheSharedEmbedding) {
  auto config = MarianConfig::read(kFolder + "/config.json");
  auto weights = read_weights(kFolder + "/pytorch_model.bin");
  weights["lm_head.weight"] = weights["lm_head.weight"] + 1.0;
  try {
    drop_marian_redundant_keys(weights, config);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lm_head.weight"), std::string::npos) << e.what();
  }
}

TEST(MarianConfig, ReadsTheFixtureConfigWithItsGenerationDefaults) {
  auto config = MarianConfig::read(kFolder + "/config.json");
  EXPECT_EQ(config.vocab_size, 2074);
  EXPECT_EQ(config.decoder_vocab_size, 2074);
  EXPECT_EQ(config.d_model, 64);
  EXPECT_EQ(config.pad_token_id, 2073);
  EXPECT_EQ(config.decoder_start_token_id, 2073);
  EXPECT_EQ(config.eos_token_id, 0);
  EXPECT_EQ(config.forced_eos_token_id, std::optional<int64_t>(0));
  EXPECT_EQ(config.bad_words_ids, (std::vector<std::vector<int64_t>>{{2073}}));
  EXPECT_EQ(config.num_beams, 4);
  EXPECT_EQ(config.max_length, 512);
  EXPECT_EQ(config.activation_function, "swish");
  EXPECT_TRUE(config.scale_embedding);
  EXPECT_TRUE(config.tie_word_embeddings);
  auto round_trip = MarianConfig::from_json(config.to_json(), "round trip");
  EXPECT_EQ(round_trip.to_json(), config.to_json());
}

TEST(MarianConfig, RejectsDModelNotDivisibleByTheHeadsNamingTheKey) {
  auto json = read_json_file(kFolder + "/config.json");
  json["decoder_attention_heads"] = 5;
  try {
    MarianConfig::from_json(json, "config.json");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("decoder_attention_heads"), std::string::npos) << message;
    EXPECT_NE(message.find("d_model 64"), std::string::npos) << message;
  }
}

TEST(MarianConfig, RejectsAMissingArchitectureKeyNamingIt) {
  auto json = read_json_file(kFolder + "/config.json");
  json.erase("d_model");
  try {
    MarianConfig::from_json(json, "config.json");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'d_model'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ftune
