// The three kinds of model `ftune serve` answers for; see model_service.h. The lines come from
// the functions `ftune predict` and `ftune translate` write theirs with, so a served answer and a
// file line agree field by field.
#include "lib/serve/model_service.h"

#include <algorithm>
#include <numeric>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <torch/torch.h>

#include "lib/eval/classification_eval.h"
#include "lib/eval/evaluate.h"
#include "lib/eval/predict.h"
#include "lib/eval/token_classification_eval.h"
#include "lib/generate/shortlist.h"
#include "lib/generate/translate.h"
#include "lib/io/bert_folder.h"
#include "lib/io/bert_token_folder.h"
#include "lib/io/marian_folder.h"
#include "lib/serve/request.h"
#include "lib/tensors/collate.h"
#include "models/marian.h"
#include "tokenizer/marian_tokenizer.h"
#include "tokenizer/wordpiece.h"
#include "util/error.h"

namespace ftune {
namespace {

// LibTorch's OpenMP pool takes its size from the thread that starts a parallel region; a thread
// LibTorch did not create must ask for the --threads setting once (what its own autograd threads
// do).
void init_model_thread() {
  thread_local bool initialized = false;
  if (!initialized) {
    at::init_num_threads();
    initialized = true;
  }
}

// Encodes with one token more than the limit first, so that a cut is seen; then again at the
// limit (the pair's longest-first cut depends on it).
Encoding encode_with_limit(const WordPieceTokenizer& tokenizer, const std::string& text,
                           const std::optional<std::string>& text_pair, size_t max_length,
                           bool& truncated) {
  Encoding encoding = tokenizer.encode(text, text_pair, max_length + 1);
  truncated = encoding.input_ids.size() > max_length;
  return truncated ? tokenizer.encode(text, text_pair, max_length) : encoding;
}

// A fine-tuned folder: its own head, --weights if given.
ClassifierLoadOptions load_options(const ServeModelOptions& options) {
  ClassifierLoadOptions load;
  load.weights = options.weights;
  return load;
}

class ClassifierService : public ModelService {
 public:
  explicit ClassifierService(const ServeModelOptions& options)
      : runtime_(resolve_runtime(options.runtime)),
        tokenizer_(WordPieceTokenizer::load_from_folder(options.model_dir.string())),
        classifier_(load_classifier(options.model_dir, load_options(options))),
        model_dir_(options.model_dir) {
    require_vocabulary_fits(tokenizer_, classifier_.config, options.model_dir);
    max_length_ = clamp_max_length(classifier_.config, options.max_length);
    classifier_.model->to(runtime_.device);
    quantize_if_asked(*classifier_.model, runtime_);
    pack_linear_layers_onednn_if_chosen(*classifier_.model, runtime_);
  }

  ServeTask task() const override { return ServeTask::kClassify; }

  nlohmann::ordered_json info() const override {
    const BertConfig& config = classifier_.config;
    nlohmann::ordered_json info;
    info["task"] = config.is_regression()    ? "regression"
                   : config.is_multi_label() ? "multi_label_classification"
                                             : "classification";
    info["model"] = model_dir_.filename().string();
    info["labels"] = config.id2label;
    info["max_length"] = max_length_;
    info["route"] = "/v1/predict";
    return info;
  }

  ServeInput encode(const nlohmann::json& input, const std::string& field,
                    std::optional<int64_t> /*beam*/) const override {
    std::string text;
    std::optional<std::string> text_pair;
    if (input.is_object()) {
      for (const auto& [key, value] : input.items()) {
        if (key != "text" && key != "text_pair") {
          throw RequestError(field + "." + key,
                             fmt::format("request field '{}.{}': unknown; expected \"text\" and "
                                         "optionally \"text_pair\"",
                                         field,
                                         key));
        }
      }
      if (!input.contains("text")) {
        throw RequestError(field + ".text", fmt::format("request field '{}.text': missing", field));
      }
      text = require_text(input["text"], field + ".text");
      if (input.contains("text_pair"))
        text_pair = require_text(input["text_pair"], field + ".text_pair");
    } else if (input.is_array()) {
      if (input.size() != 2) {
        throw RequestError(field,
                           fmt::format("request field '{}': expected a text or a pair [text, "
                                       "text_pair], got an array of {}",
                                       field,
                                       input.size()));
      }
      text = require_text(input[0], field + "[0]");
      text_pair = require_text(input[1], field + "[1]");
    } else {
      text = require_text(input, field);
    }
    ServeInput encoded;
    encoded.encoding =
        encode_with_limit(tokenizer_, text, text_pair, max_length_, encoded.truncated);
    encoded.tokens = encoded.encoding.input_ids.size();
    return encoded;
  }

  std::vector<nlohmann::ordered_json> run(const std::vector<const ServeInput*>& batch) override {
    init_model_thread();
    std::vector<Encoding> encodings;
    encodings.reserve(batch.size());
    for (const ServeInput* input : batch) encodings.push_back(input->encoding);
    InferenceScope inference(*classifier_.model, runtime_);
    const at::Tensor logits = compute_logits(classifier_.model,
                                             encodings,
                                             tokenizer_.pad_id(),
                                             encodings.size(),
                                             "serve",
                                             /*show_progress=*/false);
    return classification_lines(logits, classifier_.config);
  }

 private:
  Runtime runtime_;
  WordPieceTokenizer tokenizer_;
  Classifier classifier_;
  std::filesystem::path model_dir_;
  size_t max_length_ = 0;
};

class TokenClassifierService : public ModelService {
 public:
  explicit TokenClassifierService(const ServeModelOptions& options)
      : runtime_(resolve_runtime(options.runtime)),
        tokenizer_(WordPieceTokenizer::load_from_folder(options.model_dir.string())),
        classifier_(load_token_classifier(options.model_dir, load_options(options))),
        model_dir_(options.model_dir) {
    require_vocabulary_fits(tokenizer_, classifier_.config, options.model_dir);
    max_length_ = clamp_max_length(classifier_.config, options.max_length);
    stride_ = default_stride(max_length_);
    classifier_.model->to(runtime_.device);
    quantize_if_asked(*classifier_.model, runtime_);
    pack_linear_layers_onednn_if_chosen(*classifier_.model, runtime_);
  }

  ServeTask task() const override { return ServeTask::kTokenClassify; }

  nlohmann::ordered_json info() const override {
    nlohmann::ordered_json info;
    info["task"] = "token_classification";
    info["model"] = model_dir_.filename().string();
    info["labels"] = classifier_.config.id2label;
    info["max_length"] = max_length_;
    info["route"] = "/v1/predict";
    return info;
  }

  ServeInput encode(const nlohmann::json& input, const std::string& field,
                    std::optional<int64_t> /*beam*/) const override {
    TaggedSentences sentence;
    sentence.words.emplace_back();
    sentence.line_numbers.push_back(1);
    auto& words = sentence.words.back();
    if (input.is_array()) {
      for (size_t k = 0; k < input.size(); ++k) {
        words.push_back(require_text(input[k], fmt::format("{}[{}]", field, k)));
      }
      if (words.empty()) {
        throw RequestError(field,
                           fmt::format("request field '{}': expected at least one word", field));
      }
    } else {
      std::istringstream split(require_text(input, field));
      for (std::string word; split >> word;) words.push_back(word);
    }
    ServeInput encoded;
    encoded.windows = encode_word_windows(sentence, tokenizer_, max_length_, stride_);
    for (const auto& window : encoded.windows) {
      encoded.tokens = std::max(encoded.tokens, window.encoding.input_ids.size());
    }
    // Each window is a row of the batch: count the input as that many rows of the longest.
    encoded.tokens *= std::max<size_t>(1, encoded.windows.size());
    encoded.words = std::move(words);
    return encoded;
  }

  std::vector<nlohmann::ordered_json> run(const std::vector<const ServeInput*>& batch) override {
    init_model_thread();
    TaggedSentences sentences;
    std::vector<WordWindow> windows;
    for (size_t s = 0; s < batch.size(); ++s) {
      sentences.words.push_back(batch[s]->words);
      sentences.line_numbers.push_back(1);
      for (WordWindow window : batch[s]->windows) {
        window.sentence = s;
        windows.push_back(std::move(window));
      }
    }
    at::Tensor logits;
    {
      InferenceScope inference(*classifier_.model, runtime_);
      logits = compute_window_logits(classifier_.model,
                                     windows,
                                     tokenizer_.pad_id(),
                                     windows.size(),
                                     0,
                                     "serve",
                                     /*show_progress=*/false);
    }
    const WordPredictions predicted =
        predict_word_tags(logits, sentences, windows, classifier_.config.id2label);
    std::vector<nlohmann::ordered_json> lines;
    for (size_t s = 0; s < batch.size(); ++s) {
      lines.push_back(ner_line(sentences.words[s], predicted.tags[s], predicted.scores[s]));
    }
    return lines;
  }

 private:
  Runtime runtime_;
  WordPieceTokenizer tokenizer_;
  TokenClassifier classifier_;
  std::filesystem::path model_dir_;
  size_t max_length_ = 0;
  size_t stride_ = 0;
};

class TranslationService : public ModelService {
 public:
  explicit TranslationService(const ServeModelOptions& options)
      : runtime_(resolve_runtime(options.runtime)),
        bundle_(load_marian_folder(options.model_dir, options.weights)),
        model_dir_(options.model_dir) {
    max_source_length_ = std::min(options.max_source_length,
                                  static_cast<size_t>(bundle_.config.max_position_embeddings));
    bundle_.model->to(runtime_.device);
    shortlist_ = load_vocab_shortlist(options.vocab_shortlist, bundle_);
    quantize_if_asked(*bundle_.model, runtime_, [this] { return bundle_.model->quantize_int8(); });
    pack_onednn_if_chosen(runtime_, *bundle_.model, [this](int64_t min, bool bf16) {
      return bundle_.model->pack_onednn(min, bf16);
    });
  }

  ServeTask task() const override { return ServeTask::kTranslate; }

  nlohmann::ordered_json info() const override {
    nlohmann::ordered_json info;
    info["task"] = "translation";
    info["model"] = model_dir_.filename().string();
    info["beam"] = bundle_.config.num_beams;
    info["max_length"] = max_source_length_;
    info["route"] = "/v1/translate";
    info["vocab_shortlist"] = shortlist_.has_value();
    return info;
  }

  ServeInput encode(const nlohmann::json& input, const std::string& field,
                    std::optional<int64_t> beam) const override {
    const std::string& text = require_text(input, field);
    ServeInput encoded;
    encoded.source_ids = bundle_.tokenizer->encode_source(text, max_source_length_ + 1);
    encoded.truncated = encoded.source_ids.size() > max_source_length_;
    if (encoded.truncated) {
      encoded.source_ids = bundle_.tokenizer->encode_source(text, max_source_length_);
    }
    encoded.group = beam.value_or(bundle_.config.num_beams);
    // Beam search runs `beam` rows per source.
    encoded.tokens = encoded.source_ids.size() * static_cast<size_t>(encoded.group);
    return encoded;
  }

  std::vector<nlohmann::ordered_json> run(const std::vector<const ServeInput*>& batch) override {
    init_model_thread();
    std::vector<std::vector<int64_t>> sources;
    for (const ServeInput* input : batch) sources.push_back(input->source_ids);
    std::vector<size_t> indices(sources.size());
    std::iota(indices.begin(), indices.end(), 0);
    TranslateOptions options;
    options.num_beams = batch.front()->group;
    const GenerationOptions generation = resolve_generation_options(options, bundle_.config);
    auto [input_ids, attention_mask] =
        collate_sources(sources, indices, bundle_.tokenizer->pad_id());
    const std::vector<int64_t> candidates =
        shortlist_ ? shortlist_->candidates(sources) : std::vector<int64_t>();
    GenerationResult result;
    {
      InferenceScope inference(*bundle_.model, runtime_);
      result = generate(bundle_.model,
                        bundle_.config,
                        to_device(input_ids, runtime_.device),
                        to_device(attention_mask, runtime_.device),
                        generation,
                        candidates);
    }
    std::vector<nlohmann::ordered_json> lines;
    for (size_t k = 0; k < result.sequences.size(); ++k) {
      lines.push_back(translation_line(
          bundle_.tokenizer->decode(result.sequences[k]),
          result.sequences[k],
          result.scores.empty() ? std::nullopt : std::optional<double>(result.scores[k]),
          bundle_.config.eos_token_id));
    }
    return lines;
  }

 private:
  Runtime runtime_;
  MarianBundle bundle_;
  std::optional<VocabShortlist> shortlist_;
  std::filesystem::path model_dir_;
  size_t max_source_length_ = 0;
};

}  // namespace

std::unique_ptr<ModelService> load_model_service(const ServeModelOptions& options) {
  require_model_folder(options.model_dir);
  if (is_marian_folder(options.model_dir)) return std::make_unique<TranslationService>(options);
  if (options.vocab_shortlist) {
    throw ConfigError(fmt::format(
        "serve: --vocab-shortlist: expected a MarianMT (translation) model folder, got '{}', a "
        "classifier; hint: drop --vocab-shortlist",
        options.model_dir.string()));
  }
  if (is_token_classifier_folder(options.model_dir)) {
    return std::make_unique<TokenClassifierService>(options);
  }
  return std::make_unique<ClassifierService>(options);
}

}  // namespace ftune
