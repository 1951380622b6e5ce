// libftune_spm.so: a small C interface over sentencepiece::SentencePieceProcessor, loaded with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND) by sentencepiece.cpp. Not linked into anything: Debian's
// libsentencepiece bundles protobuf 3.14, which crashes next to LibTorch's 3.21 (TOOLCHAIN.md
// §0.1).
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <sentencepiece_processor.h>

#include "sentencepiece.h"  // the spm_abi types only; this module links no other ftune code

namespace spm_abi = ftune::spm_abi;

struct ftune::spm_abi::Model {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

thread_local std::string last_error;

int fail(std::string message) {
  last_error = std::move(message);
  return -1;
}

// No exception may cross the C boundary: every entry point runs its body through this.
template <typename Body>
int guard(const char* what, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return fail(std::string(what) + ": " + e.what());
  } catch (...) {
    return fail(std::string(what) + ": unknown C++ exception");
  }
}

}  // namespace

// Exported even if the module is ever built with -fvisibility=hidden.
#define FTUNE_SPM_EXPORT __attribute__((visibility("default")))

extern "C" {

FTUNE_SPM_EXPORT int ftune_spm_abi_version() { return spm_abi::kVersion; }

FTUNE_SPM_EXPORT const char* ftune_spm_last_error() { return last_error.c_str(); }

FTUNE_SPM_EXPORT spm_abi::Model* ftune_spm_load(const char* path) {
  spm_abi::Model* result = nullptr;
  guard("loading", [&] {
    auto model = std::make_unique<spm_abi::Model>();
    const auto status = model->processor.Load(path);
    if (!status.ok()) return fail(status.ToString());
    result = model.release();
    return 0;
  });
  return result;
}

FTUNE_SPM_EXPORT void ftune_spm_free(spm_abi::Model* model) { delete model; }

FTUNE_SPM_EXPORT int ftune_spm_encode_pieces(const spm_abi::Model* model, const char* text,
                                             size_t size, spm_abi::TextSink sink, void* context) {
  return guard("encoding", [&] {
    std::vector<std::string> pieces;
    const auto status = model->processor.Encode(std::string_view(text, size), &pieces);
    if (!status.ok()) return fail(status.ToString());
    for (const auto& piece : pieces) sink(context, piece.data(), piece.size());
    return 0;
  });
}

FTUNE_SPM_EXPORT int ftune_spm_encode_ids(const spm_abi::Model* model, const char* text,
                                          size_t size, spm_abi::IdSink sink, void* context) {
  return guard("encoding", [&] {
    std::vector<int> ids;
    const auto status = model->processor.Encode(std::string_view(text, size), &ids);
    if (!status.ok()) return fail(status.ToString());
    sink(context, ids.data(), ids.size());
    return 0;
  });
}

FTUNE_SPM_EXPORT int ftune_spm_decode_pieces(const spm_abi::Model* model, const char* const* pieces,
                                             const size_t* sizes, size_t count,
                                             spm_abi::TextSink sink, void* context) {
  return guard("decoding", [&] {
    std::vector<std::string_view> views;
    views.reserve(count);
    for (size_t i = 0; i < count; ++i) views.emplace_back(pieces[i], sizes[i]);
    std::string text;
    const auto status = model->processor.Decode(views, &text);
    if (!status.ok()) return fail(status.ToString());
    sink(context, text.data(), text.size());
    return 0;
  });
}

FTUNE_SPM_EXPORT int ftune_spm_piece_to_id(const spm_abi::Model* model, const char* piece,
                                           size_t size) {
  return model->processor.PieceToId(std::string_view(piece, size));
}

FTUNE_SPM_EXPORT int ftune_spm_id_to_piece(const spm_abi::Model* model, int id,
                                           spm_abi::TextSink sink, void* context) {
  // SentencePiece does not range-check IdToPiece (it indexes the protobuf directly).
  const int size = model->processor.GetPieceSize();
  if (id < 0 || id >= size) {
    return fail("id " + std::to_string(id) + " is outside [0, " + std::to_string(size) + ")");
  }
  const std::string& piece = model->processor.IdToPiece(id);
  sink(context, piece.data(), piece.size());
  return 0;
}

FTUNE_SPM_EXPORT int ftune_spm_vocab_size(const spm_abi::Model* model) {
  return model->processor.GetPieceSize();
}

}  // extern "C"

// The definitions above must match the types sentencepiece.cpp casts its dlsym results to.
static_assert(std::is_same_v<decltype(&ftune_spm_abi_version), spm_abi::AbiVersionFn>);
static_assert(std::is_same_v<decltype(&ftune_spm_last_error), spm_abi::LastErrorFn>);
static_assert(std::is_same_v<decltype(&ftune_spm_load), spm_abi::LoadFn>);
static_assert(std::is_same_v<decltype(&ftune_spm_free), spm_abi::FreeFn>);
static_assert(std::is_same_v<decltype(&ftune_spm_encode_pieces), spm_abi::EncodePiecesFn>);
static_assert(std::is_same_v<decltype(&ftune_spm_encode_ids), spm_abi::EncodeIdsFn>);
static_assert(std::is_same_v<decltype(&ftune_spm_decode_pieces), spm_abi::DecodePiecesFn>);
static_assert(std::is_same_v<decltype(&ftune_spm_piece_to_id), spm_abi::PieceToIdFn>);
static_assert(std::is_same_v<decltype(&ftune_spm_id_to_piece), spm_abi::IdToPieceFn>);
static_assert(std::is_same_v<decltype(&ftune_spm_vocab_size), spm_abi::VocabSizeFn>);
