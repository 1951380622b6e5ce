// Reading CTranslate2's vocabulary-map format into id n-grams, and a batch's candidate targets.
#include "lib/generate/shortlist.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "lib/data/lines.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace ftune {
namespace {

// Pieces separated by runs of spaces (a vmap writes single spaces; tolerate more).
std::vector<std::string_view> split_pieces(std::string_view text) {
  std::vector<std::string_view> pieces;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = std::min(text.find(' ', start), text.size());
    if (end > start) pieces.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return pieces;
}

}  // namespace

VocabShortlist VocabShortlist::load(const std::filesystem::path& file,
                                    const MarianTokenizer& tokenizer) {
  // vocab.json maps anything it lacks to <unk>: a piece is known when it maps elsewhere or is
  // the unknown token itself.
  const std::string unk_token = tokenizer.id_to_token(tokenizer.unk_id());
  const auto id_of = [&](std::string_view piece) -> std::optional<int64_t> {
    const int64_t id = tokenizer.token_to_id(piece);
    if (id == tokenizer.unk_id() && piece != unk_token) return std::nullopt;
    return id;
  };

  VocabShortlist shortlist;
  shortlist.always_.insert(tokenizer.unk_id());
  size_t known_targets = 0;
  // read_lines drops CR line ends and a UTF-8 byte-order mark (which would make the first
  // source piece unknown), and names the file when it cannot be read.
  const std::vector<std::string> lines = read_lines(file);
  for (size_t number = 1; number <= lines.size(); ++number) {
    const std::string& line = lines[number - 1];
    if (line.find_first_not_of(' ') == std::string::npos) continue;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) {
      throw DataError(fmt::format(
          "vocabulary shortlist '{}' line {}: expected '<source n-gram><TAB><target tokens>', "
          "got no TAB in '{}'; hint: CTranslate2's vmap format, the n-gram's and the targets' "
          "pieces separated by spaces, an empty n-gram for targets always allowed",
          file.string(),
          number,
          line.size() > 80 ? line.substr(0, 80) + "..." : line));
    }
    std::vector<int64_t> targets;
    for (std::string_view piece : split_pieces(std::string_view(line).substr(tab + 1))) {
      if (const auto id = id_of(piece)) {
        targets.push_back(*id);
      } else {
        ++shortlist.skipped_tokens_;
      }
    }
    known_targets += targets.size();
    ++shortlist.rule_count_;
    const auto source_pieces = split_pieces(std::string_view(line).substr(0, tab));
    if (source_pieces.empty()) {
      shortlist.always_.insert(targets.begin(), targets.end());
      continue;
    }
    std::vector<int64_t> ngram;
    for (std::string_view piece : source_pieces) {
      const auto id = id_of(piece);
      if (!id) break;
      ngram.push_back(*id);
    }
    if (ngram.size() != source_pieces.size()) {  // can never occur in an encoded source
      ++shortlist.skipped_tokens_;
      continue;
    }
    if (shortlist.targets_by_ngram_.size() < ngram.size()) {
      shortlist.targets_by_ngram_.resize(ngram.size());
    }
    // A repeated n-gram adds to its targets.
    auto& known = shortlist.targets_by_ngram_[ngram.size() - 1][ngram];
    known.insert(known.end(), targets.begin(), targets.end());
  }
  if (known_targets == 0) {
    throw DataError(fmt::format(
        "vocabulary shortlist '{}': expected target tokens of this model's vocab.json, got {}; "
        "hint: the shortlist must be made with this model's SentencePiece pieces (ftune "
        "shortlist --model <this folder>)",
        file.string(),
        shortlist.rule_count_ == 0 ? "no rule at all"
                                   : fmt::format("none in {} rules", shortlist.rule_count_)));
  }
  return shortlist;
}

std::vector<int64_t> VocabShortlist::candidates(
    const std::vector<std::vector<int64_t>>& sources) const {
  std::set<int64_t> found = always_;
  for (const auto& source : sources) {
    for (size_t n = 1; n <= targets_by_ngram_.size(); ++n) {
      const auto& rules = targets_by_ngram_[n - 1];
      if (rules.empty()) continue;
      for (size_t start = 0; start + n <= source.size(); ++start) {
        const std::vector<int64_t> ngram(source.begin() + static_cast<std::ptrdiff_t>(start),
                                         source.begin() + static_cast<std::ptrdiff_t>(start + n));
        const auto rule = rules.find(ngram);
        if (rule != rules.end()) found.insert(rule->second.begin(), rule->second.end());
      }
    }
  }
  return {found.begin(), found.end()};
}

std::vector<std::string> build_vocab_shortlist(const TranslationExamples& examples,
                                               const MarianTokenizer& tokenizer,
                                               const ShortlistBuildOptions& options) {
  // Pieces without the final </s>, each counted once per pair for co-occurrence.
  const auto distinct_pieces = [](const std::vector<int64_t>& ids) {
    std::vector<int64_t> pieces(ids.begin(), ids.empty() ? ids.end() : ids.end() - 1);
    std::sort(pieces.begin(), pieces.end());
    pieces.erase(std::unique(pieces.begin(), pieces.end()), pieces.end());
    return pieces;
  };
  std::unordered_map<int64_t, size_t> source_pairs, target_pairs, target_tokens;
  std::unordered_map<int64_t, std::unordered_map<int64_t, size_t>> together;  // s -> t -> pairs
  for (size_t i = 0; i < examples.source_ids.size(); ++i) {
    const auto& labels = examples.label_ids[i];
    for (auto it = labels.begin(); !labels.empty() && it != labels.end() - 1; ++it) {
      ++target_tokens[*it];
    }
    const auto sources = distinct_pieces(examples.source_ids[i]);
    const auto targets = distinct_pieces(labels);
    for (int64_t t : targets) ++target_pairs[t];
    for (int64_t s : sources) {
      ++source_pairs[s];
      auto& row = together[s];
      for (int64_t t : targets) ++row[t];
    }
  }
  // (score, piece) best first: higher score, then the smaller piece.
  using Ranked = std::pair<double, std::string>;
  const auto best_first = [](const Ranked& a, const Ranked& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  const auto join = [](std::vector<Ranked>& ranked, size_t keep) {
    std::string text;
    for (size_t k = 0; k < std::min(keep, ranked.size()); ++k) {
      if (k > 0) text += ' ';
      text += ranked[k].second;
    }
    return text;
  };
  std::vector<std::string> lines;
  std::vector<Ranked> frequent;
  for (const auto& [t, count] : target_tokens) {
    frequent.emplace_back(static_cast<double>(count), tokenizer.id_to_token(t));
  }
  std::sort(frequent.begin(), frequent.end(), best_first);
  lines.push_back("\t" + join(frequent, options.always));

  std::vector<std::pair<std::string, std::string>> rules;  // (source piece, targets)
  for (const auto& [s, row] : together) {
    const size_t c_s = source_pairs[s];
    if (c_s < options.min_count) continue;
    std::vector<Ranked> ranked;
    for (const auto& [t, both] : row) {
      ranked.emplace_back(
          2.0 * static_cast<double>(both) / static_cast<double>(c_s + target_pairs[t]),
          tokenizer.id_to_token(t));
    }
    std::sort(ranked.begin(), ranked.end(), best_first);
    rules.emplace_back(tokenizer.id_to_token(s), join(ranked, options.per_source));
  }
  std::sort(rules.begin(), rules.end());
  for (const auto& [source, targets] : rules) lines.push_back(source + "\t" + targets);
  return lines;
}

std::optional<VocabShortlist> load_vocab_shortlist(const std::optional<std::filesystem::path>& file,
                                                   MarianBundle& bundle) {
  if (!file) return std::nullopt;
  VocabShortlist shortlist = VocabShortlist::load(*file, *bundle.tokenizer);
  bundle.model->decode_through_subsets_only();  // before packing: keeps the rows it gathers
  return shortlist;
}

size_t run_shortlist(const ShortlistRunOptions& options) {
  require_writable_parent(options.output);
  refuse_output_over_input(options.output, "--output", {{"--data", options.data}});
  const MarianTokenizer tokenizer = MarianTokenizer::load_from_folder(options.model_dir.string());
  // No length cut: every piece of every pair counts.
  constexpr size_t kUncut = size_t{1} << 30;
  const TranslationExamples examples =
      read_translation_examples(options.data, options.columns, tokenizer, kUncut, kUncut, {});
  const std::vector<std::string> lines = build_vocab_shortlist(examples, tokenizer, options.build);
  AtomicFileWriter writer(options.output);
  for (const std::string& line : lines) writer.stream() << line << '\n';
  writer.commit();
  return lines.size() - 1;
}

}  // namespace ftune
