// Golden test: BertForTokenClassification against Hugging Face's (transformers 4.57.6) on the
// bundled model with a fixed head, tests/fixtures/ner/model.json (make_ner.py): the logits at
// every real position of 12 sentences and the model's own loss over run_ner's labels, both from
// one padded forward pass and from the evaluation path (compute_window_logits, other batches).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "lib/eval/token_classification_eval.h"
#include "lib/io/bert_token_folder.h"
#include "lib/tensors/collate.h"
#include "tests/common/tensor_testing.h"

namespace ftune {
namespace {

using testing::json_to_tensor;
using testing::read_json_file;
using testing::tensors_close;

constexpr double kRelativeTolerance = 1e-5;
constexpr double kAbsoluteTolerance = 1e-6;

TEST(BertTokenClassificationParity, LogitsAndLossEqualHuggingFaces) {
  const auto model_json = read_json_file("tests/fixtures/ner/model.json");
  const auto alignment = read_json_file("tests/fixtures/ner/alignment.json");
  ClassifierLoadOptions options;
  options.labels = model_json["label_list"].get<std::vector<std::string>>();
  TokenClassifier classifier = load_token_classifier("assets/models/bert-tiny-ftune", options);
  EXPECT_NE(classifier.head_note.find("new token classification head for 13 tags"),
            std::string::npos)
      << classifier.head_note;
  {
    torch::NoGradGuard no_grad;
    classifier.model->classifier->weight.copy_(json_to_tensor(model_json["classifier.weight"]));
    classifier.model->classifier->bias.copy_(json_to_tensor(model_json["classifier.bias"]));
  }
  classifier.model->eval();

  const auto count = model_json["batch_sentences"].get<size_t>();
  std::vector<WordWindow> windows(count);
  std::vector<std::vector<int64_t>> labels(count);
  Rows ids, label_rows;
  for (size_t i = 0; i < count; ++i) {
    const auto& row = alignment["sentences"][i];
    windows[i].sentence = i;
    windows[i].encoding.input_ids = row["input_ids"].get<std::vector<int64_t>>();
    windows[i].encoding.token_type_ids.assign(windows[i].encoding.input_ids.size(), 0);
    windows[i].encoding.attention_mask.assign(windows[i].encoding.input_ids.size(), 1);
    windows[i].word_ids = row["word_ids"].get<std::vector<int64_t>>();
    labels[i] = row["labels_first"].get<std::vector<int64_t>>();
    ids.push_back(&windows[i].encoding.input_ids);
    label_rows.push_back(&labels[i]);
  }

  // One padded forward pass, as Hugging Face ran it.
  torch::NoGradGuard no_grad;
  const auto input_ids = pad_rows(ids, 0);  // (B, T)
  const auto logits = classifier.model(input_ids, mask_rows(ids), torch::zeros_like(input_ids));
  const auto loss = torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}), pad_rows(label_rows, kIgnoreIndex).reshape({-1}));
  EXPECT_NEAR(loss.item<double>(),
              model_json["loss"].get<double>(),
              kRelativeTolerance * model_json["loss"].get<double>());

  // The evaluation path: batches of 5, longest first, zero-padded to 64 positions.
  const auto window_logits = compute_window_logits(classifier.model,
                                                   windows,
                                                   /*pad_id=*/0,
                                                   /*batch_size=*/5,
                                                   /*pad_to=*/64,
                                                   "test",
                                                   /*show_progress=*/false);  // (12, 64, L)
  ASSERT_EQ(window_logits.size(1), 64);
  for (size_t i = 0; i < count; ++i) {
    SCOPED_TRACE("sentence " + std::to_string(i));
    const auto want = json_to_tensor(model_json["logits"][i]);  // (T_i, L)
    const auto T = want.size(0);
    EXPECT_TRUE(tensors_close(logits[static_cast<int64_t>(i)].narrow(0, 0, T),
                              want,
                              kRelativeTolerance,
                              kAbsoluteTolerance));
    EXPECT_TRUE(tensors_close(window_logits[static_cast<int64_t>(i)].narrow(0, 0, T),
                              want,
                              kRelativeTolerance,
                              kAbsoluteTolerance));
    EXPECT_EQ(
        window_logits[static_cast<int64_t>(i)].narrow(0, T, 64 - T).abs().sum().item<double>(),
        0.0);
  }
}

}  // namespace
}  // namespace ftune
