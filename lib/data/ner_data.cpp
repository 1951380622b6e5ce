// CoNLL / JSONL tagged sentences, sub-word windows and run_ner's label alignment.
#include "lib/data/ner_data.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "lib/data/lines.h"
#include "util/error.h"
#include "util/json.h"

namespace ftune {
namespace {

constexpr size_t kMaxListedLabels = 20;

bool is_jsonl(const std::filesystem::path& file) {
  const auto ext = file.extension().string();
  return ext == ".jsonl" || ext == ".json";
}

std::vector<std::string> split_columns(const std::string& line) {
  std::vector<std::string> columns;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t end = i;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t' && line[end] != '\r') ++end;
    if (end > i) columns.push_back(line.substr(i, end - i));
    i = end;
  }
  return columns;
}

void read_conll(const std::vector<std::string>& lines, bool read_tags, TaggedSentences& out) {
  std::vector<std::string> words, tags;
  int64_t first_line = 0;
  auto close_sentence = [&] {
    if (words.empty()) return;
    out.words.push_back(std::move(words));
    if (read_tags) out.tags.push_back(std::move(tags));
    out.line_numbers.push_back(first_line);
    words.clear();
    tags.clear();
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto line = static_cast<int64_t>(i + 1);
    const auto columns = split_columns(lines[i]);
    if (columns.empty()) {
      close_sentence();
      continue;
    }
    if (columns[0] == "-DOCSTART-") {  // CoNLL-2003's document marker: no word
      close_sentence();
      continue;
    }
    if (read_tags && columns.size() < 2) {
      throw DataError(fmt::format(
          "reading '{}': line {}: word '{}' has no tag: expected 'word<TAB>tag' (the tag in "
          "the last column); hint: a sentence has as many tags as words, and sentences are "
          "separated by a blank line",
          out.file.string(),
          line,
          columns[0]));
    }
    if (words.empty()) first_line = line;
    words.push_back(columns.front());
    if (read_tags) tags.push_back(columns.back());
  }
  close_sentence();
}

std::vector<std::string> read_string_list(const nlohmann::json& value, const std::string& key,
                                          const TaggedSentences& out, int64_t line) {
  if (!value.is_array()) {
    throw DataError(fmt::format("reading '{}': line {}: \"{}\": expected a list of strings, got {}",
                                out.file.string(),
                                line,
                                key,
                                quote_json_value(value)));
  }
  std::vector<std::string> items;
  for (const auto& item : value) {
    if (!item.is_string()) {
      throw DataError(fmt::format(
          "reading '{}': line {}: \"{}\": expected strings, got {}{}",
          out.file.string(),
          line,
          key,
          quote_json_value(item),
          item.is_number() ? "; hint: tags are names (\"B-PER\"), not class numbers" : ""));
    }
    items.push_back(item.get<std::string>());
  }
  return items;
}

void read_jsonl(const std::vector<std::string>& lines, bool read_tags, TaggedSentences& out) {
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto line = static_cast<int64_t>(i + 1);
    if (lines[i].find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json row;
    try {
      row = parse_json_capped(lines[i], out.file.string());
    } catch (const JsonError& e) {
      throw DataError(fmt::format("reading '{}': line {}: expected {}, got {}",
                                  out.file.string(),
                                  line,
                                  e.expected,
                                  e.got));
    }
    if (!row.is_object() || !row.contains("tokens")) {
      throw DataError(
          fmt::format("reading '{}': line {}: expected an object with \"tokens\"{}, got {}",
                      out.file.string(),
                      line,
                      read_tags ? " and \"tags\"" : "",
                      quote_json_value(row)));
    }
    auto words = read_string_list(row["tokens"], "tokens", out, line);
    if (words.empty()) {
      throw DataError(fmt::format(
          "reading '{}': line {}: \"tokens\" is empty; hint: remove the line (a sentence has at "
          "least one word)",
          out.file.string(),
          line));
    }
    if (read_tags) {
      const char* key = row.contains("tags") ? "tags" : "ner_tags";
      if (!row.contains(key)) {
        throw DataError(
            fmt::format("reading '{}': line {}: no \"tags\": expected one tag per token",
                        out.file.string(),
                        line));
      }
      auto tags = read_string_list(row[key], key, out, line);
      if (tags.size() != words.size()) {
        throw DataError(
            fmt::format("reading '{}': line {}: {} tokens but {} tags: expected one tag per token",
                        out.file.string(),
                        line,
                        words.size(),
                        tags.size()));
      }
      out.tags.push_back(std::move(tags));
    }
    out.words.push_back(std::move(words));
    out.line_numbers.push_back(line);
  }
}

}  // namespace

TaggedSentences read_tagged_sentences(const std::filesystem::path& file, bool read_tags) {
  TaggedSentences out;
  out.file = file;
  const auto lines = read_lines(file);
  if (is_jsonl(file)) {
    read_jsonl(lines, read_tags, out);
  } else {
    out.one_word_per_line = true;
    read_conll(lines, read_tags, out);
  }
  if (out.words.empty()) {
    throw DataError(fmt::format(
        "reading '{}': no sentence; hint: CoNLL files have one 'word<TAB>tag' per line, JSONL "
        "files one {{\"tokens\": [...], \"tags\": [...]}} per line",
        file.string()));
  }
  return out;
}

size_t default_stride(size_t max_length) {
  return std::min<size_t>(32, max_length > 2 ? (max_length - 2) / 2 : 0);
}

std::vector<WordWindow> encode_word_windows(const TaggedSentences& sentences,
                                            const WordPieceTokenizer& tokenizer, size_t max_length,
                                            size_t stride) {
  if (max_length < 3) {
    throw ConfigError(fmt::format(
        "--max-length {}: expected at least 3 ([CLS], one sub-word, [SEP])", max_length));
  }
  const size_t capacity = max_length - 2;  // sub-words per window
  if (stride >= capacity) {
    throw ConfigError(fmt::format(
        "--stride {}: expected less than --max-length - 2 = {} (windows overlap by --stride "
        "sub-words); hint: lower --stride or raise --max-length",
        stride,
        capacity));
  }
  std::vector<WordWindow> windows;
  for (size_t s = 0; s < sentences.words.size(); ++s) {
    std::vector<int64_t> pieces, word_of_piece;
    std::vector<uint8_t> first_of_word;
    for (size_t w = 0; w < sentences.words[s].size(); ++w) {
      const auto ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(sentences.words[s][w]));
      for (size_t k = 0; k < ids.size(); ++k) {
        pieces.push_back(ids[k]);
        word_of_piece.push_back(static_cast<int64_t>(w));
        first_of_word.push_back(k == 0 ? 1 : 0);
      }
    }
    size_t start = 0;
    while (true) {
      const size_t end = std::min(pieces.size(), start + capacity);
      WordWindow window;
      window.sentence = s;
      auto& ids = window.encoding.input_ids;
      ids.push_back(tokenizer.cls_id());
      ids.insert(ids.end(), pieces.begin() + start, pieces.begin() + end);
      ids.push_back(tokenizer.sep_id());
      window.encoding.token_type_ids.assign(ids.size(), 0);
      window.encoding.attention_mask.assign(ids.size(), 1);
      window.word_ids.push_back(-1);
      window.word_ids.insert(
          window.word_ids.end(), word_of_piece.begin() + start, word_of_piece.begin() + end);
      window.word_ids.push_back(-1);
      window.starts_word.push_back(0);
      window.starts_word.insert(
          window.starts_word.end(), first_of_word.begin() + start, first_of_word.begin() + end);
      window.starts_word.push_back(0);
      windows.push_back(std::move(window));
      if (end == pieces.size()) break;
      start = end - stride;
    }
  }
  return windows;
}

std::vector<int64_t> align_window_labels(const WordWindow& window,
                                         const std::vector<int64_t>& word_tag_ids,
                                         const std::vector<int64_t>& b_to_i) {
  std::vector<int64_t> labels(window.word_ids.size(), -100);
  for (size_t t = 0; t < labels.size(); ++t) {
    const int64_t word = window.word_ids[t];
    if (word < 0) continue;
    const int64_t tag = word_tag_ids[static_cast<size_t>(word)];
    if (window.starts_word[t]) {
      labels[t] = tag;
    } else if (!b_to_i.empty()) {
      labels[t] = b_to_i[static_cast<size_t>(tag)];
    }
  }
  return labels;
}

std::vector<int64_t> map_b_to_i(const std::vector<std::string>& id2label) {
  std::map<std::string, int64_t> ids;
  for (size_t k = 0; k < id2label.size(); ++k) ids[id2label[k]] = static_cast<int64_t>(k);
  std::vector<int64_t> b_to_i;
  for (size_t k = 0; k < id2label.size(); ++k) {
    const auto& label = id2label[k];
    auto inside = label.rfind("B-", 0) == 0 ? ids.find("I-" + label.substr(2)) : ids.end();
    b_to_i.push_back(inside != ids.end() ? inside->second : static_cast<int64_t>(k));
  }
  return b_to_i;
}

std::vector<std::vector<int64_t>> map_tag_ids(const TaggedSentences& sentences,
                                              const std::vector<std::string>& id2label) {
  std::map<std::string, int64_t> ids;
  for (size_t k = 0; k < id2label.size(); ++k) ids[id2label[k]] = static_cast<int64_t>(k);
  std::vector<std::vector<int64_t>> result;
  for (size_t s = 0; s < sentences.tags.size(); ++s) {
    std::vector<int64_t> row;
    for (size_t k = 0; k < sentences.tags[s].size(); ++k) {
      auto it = ids.find(sentences.tags[s][k]);
      if (it == ids.end()) {
        std::string known;
        for (size_t j = 0; j < id2label.size() && j < kMaxListedLabels; ++j) {
          known += fmt::format("{}'{}'", j ? ", " : "", id2label[j]);
        }
        if (id2label.size() > kMaxListedLabels) {
          known += fmt::format(", ... ({} in all)", id2label.size());
        }
        throw DataError(fmt::format(
            "reading '{}': line {}: tag '{}' of word '{}': expected one of the model's tags ({}); "
            "hint: the model was trained without this tag; fix the tag, or train with data "
            "that has it",
            sentences.file.string(),
            sentences.line_of(s, k),
            sentences.tags[s][k],
            sentences.words[s][k],
            known));
      }
      row.push_back(it->second);
    }
    result.push_back(std::move(row));
  }
  return result;
}

std::vector<std::vector<WordSource>> locate_word_predictions(
    const TaggedSentences& sentences, const std::vector<WordWindow>& windows) {
  std::vector<std::vector<WordSource>> sources(sentences.words.size());
  std::vector<std::vector<int64_t>> context(sentences.words.size());
  for (size_t s = 0; s < sentences.words.size(); ++s) {
    sources[s].assign(sentences.words[s].size(), WordSource{});
    context[s].assign(sentences.words[s].size(), -1);
  }
  for (size_t w = 0; w < windows.size(); ++w) {
    const auto& window = windows[w];
    const auto T = static_cast<int64_t>(window.word_ids.size());
    for (int64_t t = 1; t + 1 < T; ++t) {
      if (!window.starts_word[static_cast<size_t>(t)]) continue;
      const auto word = static_cast<size_t>(window.word_ids[static_cast<size_t>(t)]);
      // Sub-words on the poorer side of this one, inside the window.
      const int64_t room = std::min(t - 1, T - 2 - t);
      if (room > context[window.sentence][word]) {
        context[window.sentence][word] = room;
        sources[window.sentence][word] = {static_cast<int64_t>(w), t};
      }
    }
  }
  return sources;
}

}  // namespace ftune
