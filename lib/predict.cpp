// Batched inference for classification: tokenize, pad per batch, forward without autograd.
#include "lib/predict.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "lib/atomic_file.h"
#include "lib/batch.h"
#include "lib/device.h"
#include "lib/model_folder.h"
#include "lib/progress.h"

namespace ftune {

at::Tensor compute_logits(BertForSequenceClassification& model,
                          const std::vector<Encoding>& encodings, int64_t pad_id, size_t batch_size,
                          const std::string& progress_label, bool show_progress) {
  torch::InferenceMode inference;
  model->eval();
  const auto device = device_of(*model);
  // Batches of similar length: rows sorted by length (longest first, ties in file order) pad
  // to almost nothing, also inside attention. Each row's logits do not depend on its batch
  // mates, so the result is put back into file order at the end.
  std::vector<size_t> order(encodings.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return encodings[a].input_ids.size() > encodings[b].input_ids.size();
  });
  std::vector<at::Tensor> parts;
  ProgressBar progress(progress_label, static_cast<int64_t>(encodings.size()), show_progress);
  for (size_t start = 0; start < order.size(); start += batch_size) {
    const auto end = static_cast<std::ptrdiff_t>(std::min(order.size(), start + batch_size));
    std::vector<size_t> indices(order.begin() + static_cast<std::ptrdiff_t>(start),
                                order.begin() + end);
    Batch batch = collate_batch(encodings, {}, indices, pad_id);
    auto logits = model(to_device(batch.input_ids, device),
                        to_device(batch.attention_mask, device),
                        to_device(batch.token_type_ids, device));  // (B, L)
    parts.push_back(logits.to(torch::kCPU, torch::kFloat));        // predictions stay on the host
    progress.update(static_cast<int64_t>(start + indices.size()));
  }
  progress.finish();
  if (parts.empty()) return torch::empty({0, model->classifier->weight.size(0)});
  return put_rows_in_example_order(torch::cat(parts, 0), order);  // (N, L), file order
}

size_t run_predict(const PredictOptions& options) {
  require_writable_parent(options.output);
  refuse_output_over_input(options.output,
                           "--output",
                           {{"--data", options.data}, {"--weights", options.weights.value_or("")}});
  require_model_folder(options.model_dir);
  auto tokenizer = WordPieceTokenizer::load_from_folder(options.model_dir.string());
  ClassifierLoadOptions load_options;
  load_options.weights = options.weights;
  const Runtime runtime = resolve_runtime(options.runtime);
  Classifier classifier = load_classifier(options.model_dir, load_options);
  classifier.model->to(runtime.device);
  require_vocabulary_fits(tokenizer, classifier.config, options.model_dir);
  const size_t max_length = clamp_max_length(classifier.config, options.max_length);
  TextExamples examples = read_text_examples(options.data,
                                             options.columns,
                                             tokenizer,
                                             max_length,
                                             /*read_labels=*/false,
                                             options.table);
  if (examples.skipped_rows > 0) {
    fmt::print(stderr,
               "skipped {} bad rows of {} (--skip-bad-rows)\n",
               examples.skipped_rows,
               options.data.string());
  }
  AutocastGuard autocast(runtime.device.type(), runtime.precision);
  at::Tensor logits = compute_logits(
      classifier.model, examples.encodings, tokenizer.pad_id(), options.batch_size, "predict");
  at::Tensor probs = torch::softmax(logits, -1);  // (N, L)
  at::Tensor best = logits.argmax(-1);            // (N)

  AtomicFileWriter writer(options.output);
  auto logit_rows = logits.accessor<float, 2>();
  auto prob_rows = probs.accessor<float, 2>();
  const auto L = logits.size(1);
  for (int64_t i = 0; i < logits.size(0); ++i) {
    const int64_t label_id = best[i].item<int64_t>();
    nlohmann::ordered_json line;  // keys in the documented order
    line["label"] = classifier.config.id2label[label_id];
    line["label_id"] = label_id;
    std::vector<float> p(L), l(L);
    for (int64_t j = 0; j < L; ++j) {
      p[j] = prob_rows[i][j];
      l[j] = logit_rows[i][j];
    }
    line["probs"] = p;
    line["logits"] = l;
    writer.stream() << line.dump() << '\n';
  }
  writer.commit();
  return static_cast<size_t>(logits.size(0));
}

}  // namespace ftune
