// Evaluating a translation model: teacher-forced loss and, with generation, sacreBLEU's BLEU and
// chrF of the decoded outputs against the references. Shared by the trainer and `ftune eval`.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "lib/device.h"
#include "lib/generate.h"
#include "lib/marian_folder.h"
#include "lib/seq2seq_data.h"
#include "lib/train_task.h"

namespace ftune {

// Mean over batches of the batch's mean token loss, weighted by batch size (as Hugging Face's
// evaluation loop averages). With `generation`, also "bleu" and "chrf", and the decoded
// outputs in `hypotheses` when given.
EvalMetrics evaluate_translation(MarianMTModel& model,
                                 const MarianConfig& config,
                                 const MarianTokenizer& tokenizer,
                                 const TranslationExamples& examples,
                                 size_t batch_size,
                                 double label_smoothing,
                                 const std::optional<GenerationOptions>& generation,
                                 std::vector<std::string>* hypotheses = nullptr,
                                 bool show_progress = true);

// Token-level cross-entropy of teacher-forced logits (B, S, V) against labels (B, S) with -100
// ignored, PyTorch cross_entropy semantics (mean over non-ignored tokens, label_smoothing).
at::Tensor compute_seq2seq_loss(const at::Tensor& logits, const at::Tensor& labels,
                                double label_smoothing);

struct TranslateEvalOptions {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> weights;
  std::filesystem::path data;
  PairColumns columns;
  TableReadOptions table;
  size_t batch_size = 16;
  size_t max_source_length = 512;
  size_t max_target_length = 512;
  GenerationOptions generation;
  RuntimeOptions runtime;  // --device, --precision
};

// `ftune eval --task translate`: the text to print (loss, BLEU and chrF lines with signatures).
std::string run_translate_eval(const TranslateEvalOptions& options);

}  // namespace ftune
