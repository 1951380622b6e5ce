// `ftune inspect`: what a model folder holds and what loading it would report, without running it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace ftune {

struct InspectOptions {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> weights;
};

// The whole report as printable text.
std::string inspect_model(const InspectOptions& options);

}  // namespace ftune
