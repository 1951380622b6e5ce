// Evaluating a token classifier: window logits, per-word tags, the seqeval report and renderings.
#include "lib/eval/token_classification_eval.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "lib/tensors/collate.h"
#include "lib/tensors/device.h"
#include "util/error.h"
#include "util/progress.h"

namespace ftune {

at::Tensor compute_window_logits(BertForTokenClassification& model,
                                 const std::vector<WordWindow>& windows, int64_t pad_id,
                                 size_t batch_size, int64_t pad_to,
                                 const std::string& progress_label, bool show_progress) {
  InferenceScope inference(*model);
  const auto device = device_of(*model);
  const int64_t L = model->classifier->options.out_features();
  int64_t P = pad_to;
  for (const auto& w : windows) P = std::max(P, static_cast<int64_t>(w.word_ids.size()));
  at::Tensor out = torch::zeros({static_cast<int64_t>(windows.size()), P, L});  // (N, P, L)
  // Longest first, as compute_logits: batches pad to almost nothing; each window's logits do not
  // depend on its batch mates.
  std::vector<size_t> order(windows.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return windows[a].word_ids.size() > windows[b].word_ids.size();
  });
  std::vector<Encoding> encodings;
  encodings.reserve(windows.size());
  for (const auto& w : windows) encodings.push_back(w.encoding);
  ProgressBar progress(progress_label, static_cast<int64_t>(windows.size()), show_progress);
  for (size_t start = 0; start < order.size(); start += batch_size) {
    const auto end = static_cast<std::ptrdiff_t>(std::min(order.size(), start + batch_size));
    std::vector<size_t> indices(order.begin() + static_cast<std::ptrdiff_t>(start),
                                order.begin() + end);
    Batch batch = collate_batch(encodings, {}, indices, pad_id);
    auto logits = model(to_device(batch.input_ids, device),
                        to_device(batch.attention_mask, device),
                        to_device(batch.token_type_ids, device))
                      .to(torch::kCPU, torch::kFloat);  // (B, T, L)
    for (size_t b = 0; b < indices.size(); ++b) {
      const auto T = static_cast<int64_t>(windows[indices[b]].word_ids.size());
      out[static_cast<int64_t>(indices[b])].narrow(0, 0, T).copy_(
          logits[static_cast<int64_t>(b)].narrow(0, 0, T));
    }
    progress.update(static_cast<int64_t>(start + indices.size()));
  }
  progress.finish();
  return out;
}

WordPredictions predict_word_tags(const at::Tensor& window_logits, const TaggedSentences& sentences,
                                  const std::vector<WordWindow>& windows,
                                  const std::vector<std::string>& id2label) {
  if (window_logits.dim() != 3 || window_logits.size(0) != static_cast<int64_t>(windows.size()) ||
      window_logits.size(2) != static_cast<int64_t>(id2label.size())) {
    throw Error(fmt::format("predicting tags: logits: expected [{}, P, {}], got {}",
                            windows.size(),
                            id2label.size(),
                            fmt::join(window_logits.sizes(), "x")));
  }
  const at::Tensor probs = torch::softmax(window_logits, -1);  // (N, P, L)
  const at::Tensor best = probs.argmax(-1);                    // (N, P)
  auto best_cells = best.accessor<int64_t, 2>();
  auto prob_cells = probs.accessor<float, 3>();
  WordPredictions result;
  const auto sources = locate_word_predictions(sentences, windows);
  for (const auto& words : sources) {
    std::vector<std::string> tags;
    std::vector<float> scores;
    for (const auto& source : words) {
      if (source.window < 0) {
        tags.emplace_back("O");  // a word the tokenizer drops (a control character): no entity
        scores.push_back(0.0F);
        continue;
      }
      const int64_t id = best_cells[source.window][source.position];
      tags.push_back(id2label[static_cast<size_t>(id)]);
      scores.push_back(prob_cells[source.window][source.position][id]);
    }
    result.tags.push_back(std::move(tags));
    result.scores.push_back(std::move(scores));
  }
  return result;
}

NerEvalResult compute_ner_result(const at::Tensor& window_logits, const TaggedSentences& sentences,
                                 const std::vector<WordWindow>& windows,
                                 const std::vector<std::vector<int64_t>>& tag_ids,
                                 const std::vector<std::string>& id2label, SeqevalMode mode) {
  NerEvalResult result;
  result.mode = mode;
  result.predictions = predict_word_tags(window_logits, sentences, windows, id2label).tags;
  result.report = compute_entity_report(sentences.tags, result.predictions, mode);
  // Mean cross-entropy over the labelled positions, in float32 as the model's loss.
  std::vector<int64_t> rows, targets;
  const int64_t P = window_logits.size(1);
  for (size_t w = 0; w < windows.size(); ++w) {
    const auto labels = align_window_labels(windows[w], tag_ids[windows[w].sentence], {});
    for (size_t t = 0; t < labels.size(); ++t) {
      if (labels[t] == kIgnoreIndex) continue;
      rows.push_back(static_cast<int64_t>(w) * P + static_cast<int64_t>(t));
      targets.push_back(labels[t]);
    }
  }
  if (!rows.empty()) {
    const at::Tensor flat = window_logits.reshape({-1, window_logits.size(2)});  // (N * P, L)
    result.loss = torch::nn::functional::cross_entropy(flat.index_select(0, torch::tensor(rows)),
                                                       torch::tensor(targets))
                      .item<double>();
  }
  return result;
}

std::string format_ner_result(const NerEvalResult& result, int digits) {
  const int decimals = std::max(4, digits);
  const auto& r = result.report;
  std::string text = format_entity_report(r, digits) + "\n";
  text += fmt::format("accuracy {:.{}f}\n", r.accuracy, decimals);
  text += fmt::format("precision {:.{}f}\n", r.micro_avg.precision, decimals);
  text += fmt::format("recall {:.{}f}\n", r.micro_avg.recall, decimals);
  text += fmt::format("f1 {:.{}f}\n", r.micro_avg.f1, decimals);
  if (result.loss) text += fmt::format("loss {:.{}f}\n", *result.loss, decimals);
  return text;
}

nlohmann::json ner_result_to_json(const NerEvalResult& result) {
  const auto& r = result.report;
  nlohmann::json metrics = {{"precision", r.micro_avg.precision},
                            {"recall", r.micro_avg.recall},
                            {"f1", r.micro_avg.f1},
                            {"accuracy", r.accuracy},
                            {"macro_f1", r.macro_avg.f1},
                            {"weighted_f1", r.weighted_avg.f1},
                            {"support", r.micro_avg.support}};
  if (result.loss) metrics["loss"] = *result.loss;
  return {{"classification_report", entity_report_to_json(r)},
          {"metrics", metrics},
          {"mode", result.mode == SeqevalMode::kStrictIob2 ? "strict" : "default"}};
}

}  // namespace ftune
