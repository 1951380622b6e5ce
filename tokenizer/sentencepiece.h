// SentencePieceModel: one .model/.spm file, behind the dlopen'd shim libftune_spm.so.
// Not a Hugging Face tokenizer: no special tokens, no vocab.json (see marian_tokenizer.h for that).
// SentencePiece is never linked into ftune itself (its protobuf clashes with LibTorch's).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ftune {

namespace spm_abi {
struct Model;  // opaque, owned by the shim
}

// Example:
//   auto sp = SentencePieceModel::load("tests/fixtures/spm/test_model.model");
//   sp.encode_as_pieces("I saw a girl");  // {"▁I", "▁saw", "▁a", "▁girl"}
//   sp.encode_as_ids("I saw a girl");     // {9, 459, 11, 939}
//   sp.decode_pieces({"▁I", "▁saw"});     // "I saw"
//   sp.piece_to_id("▁girl");              // 939; an unknown piece gives the model's unk id
//
// All methods throw TokenizerError (tokenizer/tokenizer.h), naming the model file.
// Encoding and decoding are const and safe to call from several threads at once.
class SentencePieceModel {
 public:
  // Loads the shim on first use (see find_spm_shim in sentencepiece.cpp), then the model file.
  static SentencePieceModel load(const std::string& path);

  SentencePieceModel(SentencePieceModel&& other) noexcept;
  SentencePieceModel& operator=(SentencePieceModel&& other) noexcept;
  SentencePieceModel(const SentencePieceModel&) = delete;
  SentencePieceModel& operator=(const SentencePieceModel&) = delete;
  ~SentencePieceModel();

  std::vector<std::string> encode_as_pieces(std::string_view text) const;
  std::vector<int> encode_as_ids(std::string_view text) const;
  // As SentencePiece does: control pieces (<s>, </s>) vanish, the unk piece itself becomes " ⁇ ",
  // any other piece unknown to the model comes out verbatim, its ▁ included.
  std::string decode_pieces(const std::vector<std::string>& pieces) const;

  int piece_to_id(std::string_view piece) const;
  std::string id_to_piece(int id) const;  // throws when id is outside [0, vocab_size())
  int vocab_size() const;
  const std::string& path() const { return path_; }

 private:
  SentencePieceModel(spm_abi::Model* model, std::string path);
  const spm_abi::Model* checked_model() const;

  spm_abi::Model* model_ = nullptr;
  std::string path_;
};

// The C interface of libftune_spm.so: implementation detail, shared by spm_shim.cpp (which
// static_asserts its definitions against these types) and sentencepiece.cpp (which dlsym's them).
// Nothing allocated on one side is freed on the other: results come back through sinks, which
// copy the bytes out while the call runs. Sinks must not throw. Functions returning int give
// 0 on success and -1 on failure; then ftune_spm_last_error() (per thread) says why.
namespace spm_abi {
// Bump whenever a signature or a meaning below changes; the loader rejects a stale module.
constexpr int kVersion = 1;

extern "C" {
using TextSink = void (*)(void* context, const char* data, size_t size);
using IdSink = void (*)(void* context, const int* ids, size_t count);

using AbiVersionFn = int (*)();
using LastErrorFn = const char* (*)();
using LoadFn = Model* (*)(const char* path);  // nullptr on failure
using FreeFn = void (*)(Model* model);        // accepts nullptr
using EncodePiecesFn = int (*)(const Model*, const char* text, size_t size, TextSink, void*);
using EncodeIdsFn = int (*)(const Model*, const char* text, size_t size, IdSink, void*);
using DecodePiecesFn = int (*)(const Model*, const char* const* pieces, const size_t* sizes,
                               size_t count, TextSink, void*);
using PieceToIdFn = int (*)(const Model*, const char* piece, size_t size);
using IdToPieceFn = int (*)(const Model*, int id, TextSink, void*);
using VocabSizeFn = int (*)(const Model*);
}
}  // namespace spm_abi

}  // namespace ftune
