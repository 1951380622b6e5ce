// Translation evaluation: teacher-forced loss per batch, then (optionally) decoding and corpus
// BLEU/chrF over all batches.
#include "lib/eval/translation_eval.h"

#include <algorithm>
#include <numeric>

#include <torch/torch.h>

#include "lib/metrics/bleu.h"
#include "lib/tensors/collate.h"
#include "lib/tensors/device.h"
#include "util/progress.h"

namespace ftune {

TranslationEval evaluate_translation(MarianBundle& bundle, const TranslationExamples& examples,
                                     const TranslationEvalOptions& options) {
  const MarianConfig& config = bundle.config;
  MarianMTModel& model = bundle.model;
  InferenceScope inference(*model);
  const auto device = device_of(*model);
  const size_t n = examples.sources.size();
  std::optional<GenerationOptions> generation = options.generation;
  if (generation) {  // positions beyond the model's table do not exist
    generation->max_length = std::min(generation->max_length, config.max_position_embeddings);
  }
  double loss_sum = 0.0;
  TranslationEval result;
  ProgressBar progress("eval", static_cast<int64_t>(n), options.show_progress);
  for (size_t start = 0; start < n; start += options.batch_size) {
    std::vector<size_t> indices(std::min(n, start + options.batch_size) - start);
    std::iota(indices.begin(), indices.end(), start);
    Seq2SeqBatch batch =
        collate_seq2seq(examples, indices, config.pad_token_id, config.decoder_start_token_id);
    move_to(device, batch.input_ids, batch.attention_mask, batch.decoder_input_ids, batch.labels);
    auto logits = model->forward(batch.input_ids, batch.attention_mask, batch.decoder_input_ids);
    loss_sum += compute_seq2seq_loss(logits, batch.labels, options.label_smoothing).item<double>() *
                static_cast<double>(indices.size());
    if (generation) {
      std::vector<int64_t> candidates;
      if (options.shortlist) {
        std::vector<std::vector<int64_t>> sources;
        for (size_t i : indices) sources.push_back(examples.source_ids[i]);
        candidates = options.shortlist->candidates(sources);
      }
      auto generated =
          generate(model, config, batch.input_ids, batch.attention_mask, *generation, candidates);
      for (const auto& ids : generated.sequences) {
        result.hypotheses.push_back(bundle.tokenizer->decode(ids));
      }
    }
    progress.update(static_cast<int64_t>(start + indices.size()));
  }
  progress.finish();

  result.metrics.loss = loss_sum / static_cast<double>(n);
  if (generation) {
    result.bleu = compute_corpus_bleu(result.hypotheses, {examples.targets});
    result.chrf = compute_corpus_chrf(result.hypotheses, {examples.targets});
    result.metrics.values = {{"bleu", result.bleu->score}, {"chrf", result.chrf->score}};
  }
  return result;
}

}  // namespace ftune
