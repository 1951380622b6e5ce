// ftune's version: `ftune --version`, train_settings.json and the model card.
#pragma once

namespace ftune {

constexpr const char* kFtuneVersion = "0.1.0";

}  // namespace ftune
