// Translation evaluation.
#include "lib/translation_eval.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "lib/bleu.h"
#include "lib/device.h"
#include "lib/progress.h"

namespace ftune {

at::Tensor compute_seq2seq_loss(const at::Tensor& logits, const at::Tensor& labels,
                                double label_smoothing) {
  namespace F = torch::nn::functional;
  const auto V = logits.size(-1);
  return F::cross_entropy(logits.reshape({-1, V}), labels.reshape({-1}),
                          F::CrossEntropyFuncOptions().ignore_index(-100).label_smoothing(
                              label_smoothing));
}

EvalMetrics evaluate_translation(MarianMTModel& model,
                                 const MarianConfig& config,
                                 const MarianTokenizer& tokenizer,
                                 const TranslationExamples& examples,
                                 size_t batch_size,
                                 double label_smoothing,
                                 const std::optional<GenerationOptions>& generation,
                                 std::vector<std::string>* hypotheses_out,
                                 bool show_progress) {
  const bool was_training = model->is_training();
  model->eval();
  torch::InferenceMode inference;
  const auto device = device_of(*model);
  const size_t n = examples.sources.size();
  double loss_sum = 0.0;
  std::vector<std::string> hypotheses;
  ProgressBar progress("eval", static_cast<int64_t>(n), show_progress);
  for (size_t start = 0; start < n; start += batch_size) {
    std::vector<size_t> indices;
    for (size_t i = start; i < std::min(n, start + batch_size); ++i) indices.push_back(i);
    Seq2SeqBatch batch =
        collate_seq2seq(examples, indices, config.pad_token_id, config.decoder_start_token_id);
    move_to(device, batch.input_ids, batch.attention_mask, batch.decoder_input_ids, batch.labels);
    auto logits = model->forward(batch.input_ids, batch.attention_mask, batch.decoder_input_ids);
    loss_sum += compute_seq2seq_loss(logits, batch.labels, label_smoothing).item<double>() *
                static_cast<double>(indices.size());
    if (generation) {
      GenerationOptions bounded = *generation;  // positions beyond the model's table do not exist
      bounded.max_length = std::min(bounded.max_length, config.max_position_embeddings);
      auto result = generate(model, config, batch.input_ids, batch.attention_mask, bounded);
      for (const auto& ids : result.sequences) hypotheses.push_back(tokenizer.decode(ids));
    }
    progress.update(static_cast<int64_t>(start + indices.size()));
  }
  progress.finish();
  if (was_training) model->train();

  EvalMetrics metrics;
  metrics.loss = loss_sum / static_cast<double>(n);
  if (generation) {
    const BleuScore bleu = compute_corpus_bleu(hypotheses, {examples.targets});
    const ChrfScore chrf = compute_corpus_chrf(hypotheses, {examples.targets});
    metrics.values = {{"bleu", bleu.score}, {"chrf", chrf.score}};
  }
  if (hypotheses_out) *hypotheses_out = std::move(hypotheses);
  return metrics;
}

std::string run_translate_eval(const TranslateEvalOptions& options) {
  const Runtime runtime = resolve_runtime(options.runtime);
  MarianBundle bundle = load_marian_folder(options.model_dir, options.weights);
  bundle.model->to(runtime.device);
  const auto limit = static_cast<size_t>(bundle.config.max_position_embeddings);
  TranslationExamples examples = read_translation_examples(
      options.data, options.columns, *bundle.tokenizer, std::min(options.max_source_length, limit),
      std::min(options.max_target_length, limit), options.table);
  std::vector<std::string> hypotheses;
  AutocastGuard autocast(runtime.device.type(), runtime.precision);
  EvalMetrics metrics =
      evaluate_translation(bundle.model, bundle.config, *bundle.tokenizer, examples,
                           options.batch_size, 0.0, options.generation, &hypotheses);
  const BleuScore bleu = compute_corpus_bleu(hypotheses, {examples.targets});
  const ChrfScore chrf = compute_corpus_chrf(hypotheses, {examples.targets});
  return fmt::format("evaluated {} pairs of {}\nloss {:.4f}\n{}\nBLEU|{}\n{}\nchrF2|{}\n",
                     examples.sources.size(), options.data.string(), metrics.loss, bleu.format(),
                     bleu.signature, chrf.format(), chrf.signature);
}

}  // namespace ftune
