// Where scripts/fetch-model.sh unpacks the demo's pretrained model (all-MiniLM-L6-v2): the same
// variables in the same order. Tests that need its real weights (too big for the repository) read
// it there and are skipped, saying so, when it is missing; make test fetches it first.
#pragma once

#include <cstdlib>
#include <filesystem>

namespace ftune::testing {

inline std::filesystem::path demo_model_folder() {
  namespace fs = std::filesystem;
  const fs::path name = "all-MiniLM-L6-v2";
  if (const char* dir = std::getenv("FTUNE_MODELS_DIR")) return fs::path(dir) / name;
  fs::path cache;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME")) {
    cache = xdg;
  } else if (const char* home = std::getenv("HOME")) {
    cache = fs::path(home) / ".cache";
  }
  return cache / "ftune" / "models" / name;
}

// True once fetch-model.sh has finished unpacking (it writes .fetched last).
inline bool demo_model_fetched() {
  return std::filesystem::exists(demo_model_folder() / ".fetched");
}

}  // namespace ftune::testing
