// The vocabulary shortlist of `ftune translate --vocab-shortlist`: per batch of sources, the few
// target tokens the output may use, so that each decoding step projects onto those rows of the
// output embedding instead of all of them (54,688 for OPUS-MT en-mg). The file is CTranslate2's
// vocabulary map ("vmap"), one rule per line:
//
//   ▁a ▁man<TAB>▁ein ▁Mann ▁einem    a source n-gram (pieces, space-separated), a TAB, its targets
//   <TAB>▁der ▁die ▁das .           an empty source: targets every batch may use
//
// A batch's candidates are the targets of every n-gram that occurs in one of its sources, the
// empty rule's, and the unknown token; generate() adds eos. It changes outputs (only candidates
// can be predicted, and beam scores are normalized over them), hence optional.
//
//   auto shortlist = VocabShortlist::load("vmap.txt", tokenizer);
//   std::vector<int64_t> candidates = shortlist.candidates({source_ids, ...});  // sorted ids
//
// load_vocab_shortlist() is what every command does with --vocab-shortlist;
// build_vocab_shortlist() makes one from parallel text (`ftune shortlist`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lib/data/seq2seq_data.h"
#include "lib/io/marian_folder.h"
#include "tokenizer/marian_tokenizer.h"

namespace ftune {

class VocabShortlist {
 public:
  // Reads the file, resolving pieces through the model's vocab.json. A line without a TAB is a
  // DataError naming the file and line; pieces the vocabulary lacks are skipped (a source n-gram
  // with one can never occur), counted in skipped_tokens(). A file with no usable target at all is
  // a DataError (most likely made for another model).
  static VocabShortlist load(const std::filesystem::path& file, const MarianTokenizer& tokenizer);

  // Sorted, distinct target ids for a batch of sources (token ids as encode_source() returns
  // them, without padding; every n-gram of every source is looked up, its </s> included).
  std::vector<int64_t> candidates(const std::vector<std::vector<int64_t>>& sources) const;

  size_t rules() const { return rule_count_; }
  size_t skipped_tokens() const { return skipped_tokens_; }
  size_t longest_ngram() const { return targets_by_ngram_.size(); }

 private:
  std::set<int64_t> always_;
  // [n - 1]: source n-gram (ids) -> target ids
  std::vector<std::map<std::vector<int64_t>, std::vector<int64_t>>> targets_by_ngram_;
  size_t rule_count_ = 0;
  size_t skipped_tokens_ = 0;
};

// The shortlist in `file` for `bundle`'s vocabulary, with the model set to decode through it
// (MarianMTModelImpl::decode_through_subsets_only); nullopt and nothing changed without a file.
// Call before quantizing or packing the model.
std::optional<VocabShortlist> load_vocab_shortlist(const std::optional<std::filesystem::path>& file,
                                                   MarianBundle& bundle);

struct ShortlistBuildOptions {
  size_t per_source = 20;  // targets kept per source piece, best by Dice's coefficient first
  size_t always = 100;     // the most frequent target pieces, allowed in every batch
  size_t min_count = 2;    // a source piece in fewer sentence pairs than this gets no rule
};

// A vmap from parallel text, tokenized as training would (pieces as ids; </s> left out): the
// `always` most frequent target pieces on the empty-source line (ties: the smaller piece in byte
// order first), then, for every source piece in at least `min_count` pairs, in byte order, its
// `per_source` target pieces of highest Dice's coefficient 2 c(s,t) / (c(s) + c(t)) over the
// pairs (c: pairs containing the piece, or both; ties as above). Co-occurrence is a cruder
// signal than the word alignments Marian's shortlists come from, so keep per_source generous.
std::vector<std::string> build_vocab_shortlist(const TranslationExamples& examples,
                                               const MarianTokenizer& tokenizer,
                                               const ShortlistBuildOptions& options);

// `ftune shortlist`: reads the pairs (.jsonl/.csv/.tsv), tokenizes them with the model folder's
// SentencePiece models and writes the vmap atomically. Returns the number of source rules.
struct ShortlistRunOptions {
  std::filesystem::path model_dir;  // source.spm, target.spm, vocab.json
  std::filesystem::path data;       // parallel text
  std::filesystem::path output;     // the vmap
  PairColumns columns;
  ShortlistBuildOptions build;
};
size_t run_shortlist(const ShortlistRunOptions& options);

}  // namespace ftune
