// Tests of reading and writing weights files: the bert-cls fixture in its three formats, the
// TorchScript fixture, round trips, and hostile or broken files (pickles with forbidden globals,
// truncated archives, files of no known kind), which must fail with a CheckpointError.
#include "lib/io/weights.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>
#include <unistd.h>

#include "lib/formats/pickle.h"
#include "util/error.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

const fs::path kBertCls = "tests/fixtures/bert-cls";
const fs::path kBertTorchScript = "tests/fixtures/bert-torchscript";

Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), {});
}

void write_bytes(const fs::path& path, const Bytes& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// A temporary folder, removed with its content at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ftune-weights-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The CheckpointError message read_weights gives for `file`, or a test failure.
std::string rejection_of(const fs::path& file) {
  try {
    read_weights(file);
  } catch (const CheckpointError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a CheckpointError for " << file;
  return "";
}

// Same names, dtypes, shapes and bytes; names the first difference.
void expect_identical(const TensorMap& expected, const TensorMap& actual, const std::string& what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  for (const auto& [name, e] : expected) {
    auto it = actual.find(name);
    ASSERT_NE(it, actual.end()) << what << ": missing '" << name << "'";
    const at::Tensor& a = it->second;
    ASSERT_EQ(e.scalar_type(), a.scalar_type()) << what << ": '" << name << "'";
    ASSERT_EQ(e.sizes(), a.sizes()) << what << ": '" << name << "'";
    ASSERT_TRUE(a.is_contiguous()) << what << ": '" << name << "'";
    at::Tensor ec = e.contiguous();
    ASSERT_EQ(std::memcmp(ec.data_ptr(), a.data_ptr(), ec.nbytes()), 0)
        << what << ": '" << name << "' differs, max abs diff "
        << (ec.to(at::kDouble) - a.to(at::kDouble)).abs().max().item<double>();
  }
}

// Pickle helpers for hand-crafted files: protocol 2 opcodes.
void put_unicode(Bytes& out, const std::string& s) {
  out.push_back('X');
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(s.size() >> (8 * i)));
  out.insert(out.end(), s.begin(), s.end());
}

void put_global(Bytes& out, const std::string& module, const std::string& name) {
  out.push_back('c');
  out.insert(out.end(), module.begin(), module.end());
  out.push_back('\n');
  out.insert(out.end(), name.begin(), name.end());
  out.push_back('\n');
}

// {"w": os.system("echo pwned")} in the shape of a state dict.
Bytes make_forbidden_pickle() {
  Bytes p = {0x80, 0x02, '}', '('};
  put_unicode(p, "w");
  put_global(p, "os", "system");
  put_unicode(p, "echo pwned");
  p.push_back(0x85);  // TUPLE1
  p.push_back('R');   // REDUCE
  p.push_back('u');   // SETITEMS
  p.push_back('.');
  return p;
}

// The three pickles a legacy file opens with: magic number, protocol version, sys_info.
Bytes make_legacy_preamble() {
  Bytes p = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50,
             0x19, '.',  0x80, 0x02, 'M',  0xe9, 0x03, '.',  0x80, 0x02, '}',  '.'};
  return p;
}

TEST(FindWeightsFile, PrefersSafetensorsInAModelFolder) {
  EXPECT_EQ(find_weights_file(kBertCls), kBertCls / "model.safetensors");
}

TEST(FindWeightsFile, FallsBackToASingleTorchScriptFile) {
  EXPECT_EQ(find_weights_file(kBertTorchScript), kBertTorchScript / "traced_bert.pt");
}

TEST(FindWeightsFile, ListsWhatWasLookedForWhenNothingIsThere) {
  TempDir dir;
  try {
    find_weights_file(dir.path());
    ADD_FAILURE() << "expected a CheckpointError";
  } catch (const CheckpointError& e) {
    std::string message = e.what();
    for (const char* name : {"model.safetensors",
                             "model.safetensors.index.json",
                             "pytorch_model.bin",
                             "pytorch_model.bin.index.json",
                             "*.pt"}) {
      EXPECT_NE(message.find(name), std::string::npos) << message;
    }
  }
  write_bytes(dir.path() / "a.pt", {});
  write_bytes(dir.path() / "b.pt", {});
  EXPECT_THROW(find_weights_file(dir.path()), CheckpointError);
  write_bytes(dir.path() / "pytorch_model.bin", {});
  EXPECT_EQ(find_weights_file(dir.path()), dir.path() / "pytorch_model.bin");
}

TEST(ReadWeights, GivesIdenticalTensorsFromSafetensorsZipAndLegacyBin) {
  TensorMap safetensors = read_weights(kBertCls / "model.safetensors");
  TensorMap zip = read_weights(kBertCls / "pytorch_model.bin");
  TensorMap legacy = read_weights(kBertCls / "pytorch_model_legacy.bin");
  EXPECT_GT(safetensors.size(), 30u);
  expect_identical(safetensors, zip, "pytorch_model.bin");
  expect_identical(safetensors, legacy, "pytorch_model_legacy.bin");

  const at::Tensor& position_ids = safetensors.at("bert.embeddings.position_ids");
  EXPECT_EQ(position_ids.scalar_type(), at::kLong);
  EXPECT_EQ(position_ids.sizes(), (std::vector<std::int64_t>{1, 128}));
  EXPECT_TRUE(torch::equal(position_ids, torch::arange(128, torch::kLong).unsqueeze(0)));
  EXPECT_EQ(safetensors.at("classifier.weight").sizes(), (std::vector<std::int64_t>{3, 64}));
  EXPECT_EQ(safetensors.at("bert.embeddings.word_embeddings.weight").scalar_type(), at::kFloat);
}

TEST(ReadWeights, GivesTensorsIndependentOfTheFile) {
  TempDir dir;
  fs::copy_file(kBertCls / "model.safetensors", dir.path() / "model.safetensors");
  TensorMap tensors = read_weights(dir.path() / "model.safetensors");
  at::Tensor before = tensors.at("classifier.bias").clone();
  fs::remove(dir.path() / "model.safetensors");
  EXPECT_TRUE(torch::equal(tensors.at("classifier.bias"), before));
  tensors.at("classifier.bias").add_(1.0);  // writable, not a read-only map
}

TEST(ReadWeights, MappedTensorsGiveTheirPagesBackAndReadTheSameValuesAfterwards) {
  // safetensors and torch.save zips are mapped, not copied; releasing the pages of a tensor
  // (what load_state_dict does once it has copied it) must not change what it reads.
  for (const char* name : {"model.safetensors", "pytorch_model.bin"}) {
    TensorMap tensors = read_weights(kBertCls / name);
    const at::Tensor& embeddings = tensors.at("bert.embeddings.word_embeddings.weight");
    const at::Tensor before = embeddings.clone();
    EXPECT_TRUE(release_mapped_pages(embeddings)) << name;
    EXPECT_TRUE(torch::equal(embeddings, before)) << name;
  }
  EXPECT_FALSE(release_mapped_pages(torch::ones({1024})));  // not a mapped tensor: untouched
  EXPECT_FALSE(release_mapped_pages(at::Tensor()));
}

TEST(ReadWeights, GivesTheTorchScriptParametersAndBuffersByName) {
  TensorMap tensors = read_weights(kBertTorchScript / "traced_bert.pt");
  nlohmann::json expected = read_json(kBertTorchScript / "expected.json");
  std::map<std::string, std::vector<std::int64_t>> want;
  for (const char* list : {"named_parameters", "named_buffers"}) {
    for (const auto& entry : expected[list]) {
      want[entry["name"].get<std::string>()] = entry["shape"].get<std::vector<std::int64_t>>();
    }
  }
  std::map<std::string, std::vector<std::int64_t>> got;
  for (const auto& [name, tensor] : tensors) got[name] = tensor.sizes().vec();
  EXPECT_EQ(got, want);
  EXPECT_EQ(tensors.at("bert.embeddings.position_ids").scalar_type(), at::kLong);
}

TEST(ReadWeights, ReadsAShardedIndex) {
  TempDir dir;
  TensorMap all = read_weights(kBertCls / "model.safetensors");
  TensorMap first, second;
  nlohmann::json index;
  for (const auto& [name, tensor] : all) {
    bool in_first = name < "bert.encoder.layer.1";
    (in_first ? first : second).emplace(name, tensor);
    index["weight_map"][name] =
        in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  write_weights_safetensors(dir.path() / "model-00001-of-00002.safetensors", first);
  write_weights_safetensors(dir.path() / "model-00002-of-00002.safetensors", second);
  std::ofstream(dir.path() / "model.safetensors.index.json") << index.dump();

  EXPECT_EQ(find_weights_file(dir.path()), dir.path() / "model.safetensors.index.json");
  expect_identical(all, read_weights(dir.path() / "model.safetensors.index.json"), "sharded");

  index["weight_map"]["classifier.bias"] = "../model.safetensors";
  std::ofstream(dir.path() / "model.safetensors.index.json") << index.dump();
  std::string message = rejection_of(dir.path() / "model.safetensors.index.json");
  EXPECT_NE(message.find("shard '../model.safetensors'"), std::string::npos) << message;
}

TEST(WriteWeightsSafetensors, RoundTripsEveryDtype) {
  TempDir dir;
  torch::manual_seed(3);
  TensorMap tensors;
  tensors["f32"] = torch::randn({3, 5});
  tensors["bf16"] = torch::randn({4, 2}).to(torch::kBFloat16);
  tensors["f16"] = torch::randn({7}).to(torch::kHalf);
  tensors["i64"] = torch::arange(-5, 5, torch::kLong).view({2, 5});
  tensors["f64"] = torch::randn({2}, torch::kDouble);
  tensors["u8"] = torch::arange(0, 200, 7).to(torch::kByte);
  tensors["bool"] = torch::tensor({true, false, true});
  tensors["scalar"] = torch::tensor(2.5f);
  tensors["empty"] = torch::zeros({0, 4});
  fs::path file = dir.path() / "model.safetensors";
  write_weights_safetensors(file, tensors);
  expect_identical(tensors, read_weights(file), "round trip");
}

TEST(WriteWeightsSafetensors, WritesNonContiguousTensorsContiguously) {
  TempDir dir;
  TensorMap tensors;
  tensors["t"] = torch::arange(12, torch::kFloat).view({3, 4}).t();
  write_weights_safetensors(dir.path() / "m.safetensors", tensors);
  TensorMap back = read_weights(dir.path() / "m.safetensors");
  EXPECT_TRUE(torch::equal(back.at("t"), tensors["t"]));
}

TEST(WriteWeightsSafetensors, RejectsAnUnsupportedDtype) {
  TempDir dir;
  TensorMap tensors;
  tensors["c"] = torch::zeros({2}, torch::kComplexFloat);
  try {
    write_weights_safetensors(dir.path() / "m.safetensors", tensors);
    ADD_FAILURE() << "expected a CheckpointError";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'c'"), std::string::npos) << e.what();
  }
}

TEST(ReadWeights, RunsTheTorchScriptModuleToTheExpectedLogits) {
  nlohmann::json inputs = read_json(kBertTorchScript / "inputs.json");
  nlohmann::json expected = read_json(kBertTorchScript / "expected.json");
  auto to_tensor = [&](const char* key) {
    auto rows = inputs[key].get<std::vector<std::vector<std::int64_t>>>();
    at::Tensor t = torch::empty(
        {static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(rows[0].size())},
        torch::kLong);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      for (std::size_t j = 0; j < rows[i].size(); ++j) t[i][j] = rows[i][j];
    }
    return t;
  };
  torch::jit::Module module = torch::jit::load((kBertTorchScript / "traced_bert.pt").string());
  module.eval();
  torch::NoGradGuard no_grad;
  auto output = module.forward(
      {to_tensor("input_ids"), to_tensor("attention_mask"), to_tensor("token_type_ids")});
  at::Tensor logits = output.toTuple()->elements()[0].toTensor();
  auto want = expected["logits"].get<std::vector<std::vector<double>>>();
  ASSERT_EQ(logits.sizes(), (std::vector<std::int64_t>{6, 2}));
  double max_diff = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    for (std::size_t j = 0; j < want[i].size(); ++j) {
      double got = logits[i][j].item<double>();
      double diff = std::abs(got - want[i][j]);
      max_diff = std::max(max_diff, diff);
      EXPECT_LE(diff, 1e-5 * std::abs(want[i][j]))
          << "logits[" << i << "][" << j << "] = " << got << ", expected " << want[i][j];
    }
  }
  RecordProperty("max_abs_diff", std::to_string(max_diff));
}

TEST(ReadWeights, RejectsAPickleNamingAForbiddenGlobal) {
  Bytes pickle = make_forbidden_pickle();
  try {
    parse_state_dict_pickle(pickle.data(), pickle.size(), "evil.pkl");
    ADD_FAILURE() << "expected a CheckpointError";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("global 'os.system'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'evil.pkl'"), std::string::npos) << e.what();
  }

  // The same pickle as data.pkl of a zip archive, and as the state dict of a legacy file.
  TempDir dir;
  {
    caffe2::serialize::PyTorchStreamWriter writer((dir.path() / "zip.bin").string());
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    writer.writeEndOfFile();
  }
  EXPECT_NE(rejection_of(dir.path() / "zip.bin").find("global 'os.system'"), std::string::npos);
  Bytes legacy = make_legacy_preamble();
  legacy.insert(legacy.end(), pickle.begin(), pickle.end());
  write_bytes(dir.path() / "legacy.bin", legacy);
  EXPECT_NE(rejection_of(dir.path() / "legacy.bin").find("global 'os.system'"), std::string::npos);

  // STACK_GLOBAL (protocol 4) is checked the same way.
  Bytes stack_global = {0x80, 0x04};
  stack_global.push_back(0x8c);
  stack_global.push_back(8);
  for (char c : std::string("builtins")) stack_global.push_back(c);
  stack_global.push_back(0x8c);
  stack_global.push_back(4);
  for (char c : std::string("eval")) stack_global.push_back(c);
  stack_global.push_back(0x93);
  stack_global.push_back('.');
  try {
    parse_state_dict_pickle(stack_global.data(), stack_global.size(), "evil.pkl");
    ADD_FAILURE() << "expected a CheckpointError";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("global 'builtins.eval'"), std::string::npos) << e.what();
  }
}

TEST(ReadWeights, RejectsATruncatedZipBin) {
  TempDir dir;
  Bytes bytes = read_bytes(kBertCls / "pytorch_model.bin");
  for (std::size_t keep : {bytes.size() / 2, bytes.size() - 10, std::size_t{100}}) {
    Bytes cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep));
    write_bytes(dir.path() / "pytorch_model.bin", cut);
    std::string message = rejection_of(dir.path() / "pytorch_model.bin");
    EXPECT_NE(message.find("pytorch_model.bin"), std::string::npos) << message;
  }
}

TEST(ReadWeights, RejectsATruncatedLegacyBin) {
  TempDir dir;
  Bytes bytes = read_bytes(kBertCls / "pytorch_model_legacy.bin");
  for (std::size_t keep : {std::size_t{10},
                           std::size_t{200},
                           std::size_t{5000},
                           std::size_t{8110},
                           bytes.size() / 2,
                           bytes.size() - 1}) {
    Bytes cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep));
    write_bytes(dir.path() / "legacy.bin", cut);
    std::string message = rejection_of(dir.path() / "legacy.bin");
    EXPECT_NE(message.find("truncated"), std::string::npos) << keep << ": " << message;
  }
}

// A small fuzz loop over the legacy parser (no LibTorch involved): byte flips in the pickles and
// cuts anywhere never crash, they parse or throw CheckpointError.
TEST(ReadWeights, SurvivesRandomCorruptionOfALegacyBin) {
  Bytes valid = read_bytes(kBertCls / "pytorch_model_legacy.bin");
  valid.resize(9000);  // the pickles and the first storages; later storages are cut off
  std::mt19937 rng(11);
  int parsed = 0, rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    Bytes bytes = valid;
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) bytes[rng() % 8200] = static_cast<std::uint8_t>(rng());
    try {
      parse_legacy_checkpoint(bytes.data(), bytes.size(), "fuzz.bin");
      ++parsed;
    } catch (const CheckpointError& e) {
      ++rejected;
      EXPECT_NE(std::string(e.what()).find("fuzz.bin"), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "round " << round << ": not a CheckpointError: " << e.what();
    }
  }
  // The file is cut inside its storages, so every round must end in a CheckpointError naming it
  // (an unnamed exception, or a "successful" parse of a truncated file, fails the test).
  EXPECT_EQ(parsed, 0);
  EXPECT_EQ(rejected, 3000);
}

TEST(ReadWeights, RejectsAFileThatIsNeitherZipNorPickleNorSafetensors) {
  TempDir dir;
  std::string text = "this is a text file, not weights\n";
  write_bytes(dir.path() / "model.bin", Bytes(text.begin(), text.end()));
  std::string message = rejection_of(dir.path() / "model.bin");
  EXPECT_NE(message.find("expected a safetensors file, a PyTorch .bin"), std::string::npos)
      << message;
  write_bytes(dir.path() / "empty.bin", {});
  EXPECT_NE(rejection_of(dir.path() / "empty.bin").find("an empty file"), std::string::npos);
  EXPECT_NE(rejection_of(dir.path() / "missing.bin").find("missing.bin"), std::string::npos);
}

TEST(ReadWeights, RejectsAStateDictHoldingSomethingOtherThanTensors) {
  Bytes p = {0x80, 0x02, '}', '('};
  put_unicode(p, "epoch");
  p.push_back('K');
  p.push_back(3);
  p.push_back('u');
  p.push_back('.');
  try {
    parse_state_dict_pickle(p.data(), p.size(), "ckpt.pkl");
    ADD_FAILURE() << "expected a CheckpointError";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("entry 'epoch': expected a tensor, got an int"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace ftune
