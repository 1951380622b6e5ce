// SentencePieceModel: finds and dlopen's libftune_spm.so once per process, then forwards to it.
// Not the place for SentencePiece itself (spm_shim.cpp) or for any Hugging Face token logic.
#include "tokenizer/sentencepiece.h"

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <dlfcn.h>
#include <fmt/format.h>

#include "tokenizer/tokenizer.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;

constexpr const char* kShimFileName = "libftune_spm.so";
constexpr const char* kShimEnvVar = "FTUNE_SPM_SHIM";

struct SpmShim {
  std::string path;
  spm_abi::LastErrorFn last_error;
  spm_abi::LoadFn load;
  spm_abi::FreeFn free;
  spm_abi::EncodePiecesFn encode_pieces;
  spm_abi::EncodeIdsFn encode_ids;
  spm_abi::DecodePiecesFn decode_pieces;
  spm_abi::PieceToIdFn piece_to_id;
  spm_abi::IdToPieceFn id_to_piece;
  spm_abi::VocabSizeFn vocab_size;
};

// Where the shim may live, in lookup order. An explicit FTUNE_SPM_SHIM is the only candidate:
// silently falling back to another copy would hide a typo in it.
std::vector<std::string> list_spm_shim_candidates() {
  if (const char* env = std::getenv(kShimEnvVar); env != nullptr && *env != '\0') return {env};
  std::vector<std::string> candidates;
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    candidates.push_back((exe.parent_path() / kShimFileName).string());
    candidates.push_back((exe.parent_path().parent_path() / "lib" / "ftune" / kShimFileName)
                             .lexically_normal()
                             .string());
  }
#ifdef FTUNE_SPM_BUILD_PATH
  candidates.emplace_back(FTUNE_SPM_BUILD_PATH);
#endif
  return candidates;
}

template <typename Fn>
Fn resolve_symbol(void* library, const char* name, const std::string& path) {
  dlerror();
  void* symbol = dlsym(library, name);
  if (symbol == nullptr) {
    const char* why = dlerror();
    throw TokenizerError(fmt::format(
        "loading SentencePiece shim '{}': symbol '{}' not found ({}); hint: the module is stale or "
        "not ftune's, rebuild it with 'ninja ftune_spm'",
        path,
        name,
        why != nullptr ? why : "null"));
  }
  return reinterpret_cast<Fn>(symbol);
}

// Never dlclose'd: SentencePiece's protobuf statics must outlive every model.
SpmShim open_spm_shim() {
  const std::vector<std::string> candidates = list_spm_shim_candidates();
  std::string tried;
  for (const std::string& path : candidates) {
    std::error_code error;
    if (path.find('/') != std::string::npos && !fs::exists(path, error)) {
      tried += fmt::format("\n  {} (no such file)", path);
      continue;
    }
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (library == nullptr) {
      const char* why = dlerror();
      tried += fmt::format("\n  {} ({})", path, why != nullptr ? why : "dlopen failed");
      continue;
    }
    const auto abi_version =
        resolve_symbol<spm_abi::AbiVersionFn>(library, "ftune_spm_abi_version", path);
    if (abi_version() != spm_abi::kVersion) {
      throw TokenizerError(fmt::format(
          "loading SentencePiece shim '{}': expected ABI version {}, got {}; hint: the module is "
          "from another ftune build, rebuild it with 'ninja ftune_spm'",
          path,
          spm_abi::kVersion,
          abi_version()));
    }
    SpmShim shim;
    shim.path = path;
    shim.last_error = resolve_symbol<spm_abi::LastErrorFn>(library, "ftune_spm_last_error", path);
    shim.load = resolve_symbol<spm_abi::LoadFn>(library, "ftune_spm_load", path);
    shim.free = resolve_symbol<spm_abi::FreeFn>(library, "ftune_spm_free", path);
    shim.encode_pieces =
        resolve_symbol<spm_abi::EncodePiecesFn>(library, "ftune_spm_encode_pieces", path);
    shim.encode_ids = resolve_symbol<spm_abi::EncodeIdsFn>(library, "ftune_spm_encode_ids", path);
    shim.decode_pieces =
        resolve_symbol<spm_abi::DecodePiecesFn>(library, "ftune_spm_decode_pieces", path);
    shim.piece_to_id = resolve_symbol<spm_abi::PieceToIdFn>(library, "ftune_spm_piece_to_id", path);
    shim.id_to_piece = resolve_symbol<spm_abi::IdToPieceFn>(library, "ftune_spm_id_to_piece", path);
    shim.vocab_size = resolve_symbol<spm_abi::VocabSizeFn>(library, "ftune_spm_vocab_size", path);
    return shim;
  }
  throw TokenizerError(fmt::format(
      "loading SentencePiece shim: no loadable {} found; tried:{}\nhint: build it with 'ninja "
      "ftune_spm' (it goes beside the ftune executable), or install it to <prefix>/lib/ftune/, or "
      "set {}=/path/to/{}",
      kShimFileName,
      tried.empty() ? std::string(" (no candidates)") : tried,
      kShimEnvVar,
      kShimFileName));
}

// Thread-safe one-time load; a failed load throws and is retried on the next call.
const SpmShim& get_spm_shim() {
  static const SpmShim shim = open_spm_shim();
  return shim;
}

// Sinks run inside the shim, so they must not throw: a failure is parked and rethrown after.
struct PieceCollector {
  std::vector<std::string> pieces;
  std::exception_ptr error;
};

void collect_piece(void* context, const char* data, size_t size) {
  auto* collector = static_cast<PieceCollector*>(context);
  if (collector->error) return;
  try {
    collector->pieces.emplace_back(data, size);
  } catch (...) {
    collector->error = std::current_exception();
  }
}

struct IdCollector {
  std::vector<int> ids;
  std::exception_ptr error;
};

void collect_ids(void* context, const int* ids, size_t count) {
  auto* collector = static_cast<IdCollector*>(context);
  if (collector->error) return;
  try {
    collector->ids.insert(collector->ids.end(), ids, ids + count);
  } catch (...) {
    collector->error = std::current_exception();
  }
}

// Joins the pieces a call produced: decode and id_to_piece give exactly one.
std::string join_pieces(PieceCollector& collector) {
  if (collector.error) std::rethrow_exception(collector.error);
  std::string text;
  for (const auto& piece : collector.pieces) text += piece;
  return text;
}

}  // namespace

SentencePieceModel::SentencePieceModel(spm_abi::Model* model, std::string path)
    : model_(model), path_(std::move(path)) {}

SentencePieceModel::SentencePieceModel(SentencePieceModel&& other) noexcept
    : model_(std::exchange(other.model_, nullptr)), path_(std::move(other.path_)) {}

SentencePieceModel& SentencePieceModel::operator=(SentencePieceModel&& other) noexcept {
  if (this != &other) {
    if (model_ != nullptr) get_spm_shim().free(model_);
    model_ = std::exchange(other.model_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

// A non-null model_ implies the shim was loaded, so get_spm_shim() cannot throw here.
SentencePieceModel::~SentencePieceModel() {
  if (model_ != nullptr) get_spm_shim().free(model_);
}

SentencePieceModel SentencePieceModel::load(const std::string& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    throw TokenizerError(fmt::format(
        "loading SentencePiece model '{}': no such file; hint: pass the path of a .model/.spm file",
        path));
  }
  const SpmShim& shim = get_spm_shim();
  spm_abi::Model* model = shim.load(path.c_str());
  if (model == nullptr) {
    throw TokenizerError(fmt::format(
        "loading SentencePiece model '{}': {}; hint: is it a SentencePiece model (ModelProto)?",
        path,
        shim.last_error()));
  }
  return {model, path};
}

const spm_abi::Model* SentencePieceModel::checked_model() const {
  if (model_ == nullptr) {
    throw TokenizerError(
        fmt::format("SentencePiece model '{}': used after it was moved from", path_));
  }
  return model_;
}

std::vector<std::string> SentencePieceModel::encode_as_pieces(std::string_view text) const {
  const spm_abi::Model* model = checked_model();
  const SpmShim& shim = get_spm_shim();
  PieceCollector collector;
  if (shim.encode_pieces(model, text.data(), text.size(), collect_piece, &collector) != 0) {
    throw TokenizerError(fmt::format("SentencePiece model '{}': {}", path_, shim.last_error()));
  }
  if (collector.error) std::rethrow_exception(collector.error);
  return std::move(collector.pieces);
}

std::vector<int> SentencePieceModel::encode_as_ids(std::string_view text) const {
  const spm_abi::Model* model = checked_model();
  const SpmShim& shim = get_spm_shim();
  IdCollector collector;
  if (shim.encode_ids(model, text.data(), text.size(), collect_ids, &collector) != 0) {
    throw TokenizerError(fmt::format("SentencePiece model '{}': {}", path_, shim.last_error()));
  }
  if (collector.error) std::rethrow_exception(collector.error);
  return std::move(collector.ids);
}

std::string SentencePieceModel::decode_pieces(const std::vector<std::string>& pieces) const {
  const spm_abi::Model* model = checked_model();
  const SpmShim& shim = get_spm_shim();
  std::vector<const char*> data;
  std::vector<size_t> sizes;
  data.reserve(pieces.size());
  sizes.reserve(pieces.size());
  for (const auto& piece : pieces) {
    data.push_back(piece.data());
    sizes.push_back(piece.size());
  }
  PieceCollector collector;
  if (shim.decode_pieces(
          model, data.data(), sizes.data(), pieces.size(), collect_piece, &collector) != 0) {
    throw TokenizerError(fmt::format("SentencePiece model '{}': {}", path_, shim.last_error()));
  }
  return join_pieces(collector);
}

int SentencePieceModel::piece_to_id(std::string_view piece) const {
  const spm_abi::Model* model = checked_model();
  return get_spm_shim().piece_to_id(model, piece.data(), piece.size());
}

std::string SentencePieceModel::id_to_piece(int id) const {
  const spm_abi::Model* model = checked_model();
  const SpmShim& shim = get_spm_shim();
  PieceCollector collector;
  if (shim.id_to_piece(model, id, collect_piece, &collector) != 0) {
    throw TokenizerError(fmt::format("SentencePiece model '{}': {}", path_, shim.last_error()));
  }
  return join_pieces(collector);
}

int SentencePieceModel::vocab_size() const { return get_spm_shim().vocab_size(checked_model()); }

}  // namespace ftune
