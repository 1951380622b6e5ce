// libFuzzer target: read_tagged_sentences (CoNLL columns, JSONL) on arbitrary bytes, then the
// sub-word windows, run_ner's labels and the word-to-window map on what it read. The input goes
// into a memfd that file names with the right extension link to, as in table_fuzzer.cpp. Input:
// one control byte, then the file. Control bit 0: .conll or .jsonl; bit 1: read tags; bits 2-4:
// max_length 3 + 2k; bits 5-7: the stride (modulo the window's room). A DataError is the expected
// answer to bad input; anything else is a finding, and so is a result that breaks the promises
// of lib/data/ner_data.h (a tag per word, windows that hold their sentence's sub-words in order
// between [CLS] and [SEP], every word with a sub-word mapped to a window position where it
// starts).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

#include "fuzz/fuzz_check.h"
#include "lib/data/ner_data.h"
#include "util/error.h"

namespace {

struct MemoryFiles {
  int fd = -1;
  std::filesystem::path dir;

  MemoryFiles() {
    fd = ::memfd_create("ftune_ner_fuzz", 0);
    char name[] = "/tmp/ftune_ner_fuzz.XXXXXX";
    FUZZ_CHECK(fd >= 0 && ::mkdtemp(name) != nullptr);
    dir = name;
    const std::string target = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd);
    for (const char* ext : {".conll", ".jsonl"}) {
      std::filesystem::create_symlink(target, dir / (std::string("in") + ext));
    }
  }
  ~MemoryFiles() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  std::filesystem::path write(const char* ext, const std::uint8_t* data, std::size_t size) {
    FUZZ_CHECK(::ftruncate(fd, 0) == 0);
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
      FUZZ_CHECK(n > 0);
      done += static_cast<std::size_t>(n);
    }
    return dir / (std::string("in") + ext);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static MemoryFiles files;
  static const auto tokenizer = ftune::WordPieceTokenizer::load_from_folder(
      std::string(FTUNE_SOURCE_DIR) + "/assets/models/bert-tiny-ftune");
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const bool read_tags = (control & 2) != 0;
  const std::size_t max_length = 3 + 2 * ((control >> 2) & 7);
  const std::size_t stride = (control >> 5) % (max_length - 2);
  const auto path = files.write((control & 1) ? ".jsonl" : ".conll", data + 1, size - 1);
  try {
    const ftune::TaggedSentences read = ftune::read_tagged_sentences(path, read_tags);
    FUZZ_CHECK(!read.words.empty());
    FUZZ_CHECK(read.line_numbers.size() == read.words.size());
    FUZZ_CHECK(read.tags.size() == (read_tags ? read.words.size() : 0));
    std::set<std::string> tags;
    for (std::size_t s = 0; s < read.words.size(); ++s) {
      FUZZ_CHECK(!read.words[s].empty());
      FUZZ_CHECK(read.line_numbers[s] >= 1 &&
                 (s == 0 || read.line_numbers[s - 1] < read.line_numbers[s]));
      if (read_tags) {
        FUZZ_CHECK(read.tags[s].size() == read.words[s].size());
        tags.insert(read.tags[s].begin(), read.tags[s].end());
      }
    }
    const auto windows = ftune::encode_word_windows(read, tokenizer, max_length, stride);
    std::size_t previous_sentence = 0;
    for (const auto& window : windows) {
      const auto& ids = window.encoding.input_ids;
      FUZZ_CHECK(ids.size() >= 2 && ids.size() <= max_length);
      FUZZ_CHECK(window.word_ids.size() == ids.size() && window.starts_word.size() == ids.size());
      FUZZ_CHECK(ids.front() == tokenizer.cls_id() && ids.back() == tokenizer.sep_id());
      FUZZ_CHECK(window.sentence < read.words.size() && window.sentence >= previous_sentence);
      previous_sentence = window.sentence;
      for (std::size_t t = 1; t + 1 < ids.size(); ++t) {
        const auto word = window.word_ids[t];
        FUZZ_CHECK(word >= 0 &&
                   static_cast<std::size_t>(word) < read.words[window.sentence].size());
        FUZZ_CHECK(t == 1 || window.word_ids[t - 1] <= word);
      }
    }
    const auto sources = ftune::locate_word_predictions(read, windows);
    FUZZ_CHECK(sources.size() == read.words.size());
    for (std::size_t s = 0; s < sources.size(); ++s) {
      FUZZ_CHECK(sources[s].size() == read.words[s].size());
      for (std::size_t w = 0; w < sources[s].size(); ++w) {
        const auto source = sources[s][w];
        if (source.window < 0) continue;
        const auto& window = windows[static_cast<std::size_t>(source.window)];
        const auto t = static_cast<std::size_t>(source.position);
        FUZZ_CHECK(window.sentence == s && t < window.word_ids.size());
        FUZZ_CHECK(window.word_ids[t] == static_cast<std::int64_t>(w) && window.starts_word[t]);
      }
    }
    if (read_tags) {
      const std::vector<std::string> id2label(tags.begin(), tags.end());
      const auto ids = ftune::map_tag_ids(read, id2label);
      const auto b_to_i = ftune::map_b_to_i(id2label);
      for (const auto& window : windows) {
        const auto labels = ftune::align_window_labels(window, ids[window.sentence], b_to_i);
        FUZZ_CHECK(labels.size() == window.word_ids.size());
        FUZZ_CHECK(labels.front() == -100 && labels.back() == -100);
      }
    }
  } catch (const ftune::DataError&) {
  }
  return 0;
}
