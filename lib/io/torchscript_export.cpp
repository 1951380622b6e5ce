// A BERT classifier as TorchScript; see torchscript_export.h. The module tree is built from the
// checkpoint names of ftune's model (one TorchScript submodule per name segment), and forward()
// is TorchScript source generated for the config: the same operations as Hugging Face's
// BertForSequenceClassification / BertForTokenClassification in eval mode (extended attention
// mask (1 - mask) * finfo.min, scores / sqrt(head size), post-LayerNorm residuals).
#include "lib/io/torchscript_export.h"

#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "lib/io/bert_folder.h"
#include "lib/io/bert_token_folder.h"
#include "lib/io/marian_folder.h"
#include "models/bert.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;

// Checkpoint names as a tree: "bert.pooler.dense.weight" -> bert / pooler / dense, weight.
struct NameTree {
  std::map<std::string, at::Tensor> tensors;
  std::map<std::string, std::unique_ptr<NameTree>> children;
};

void insert(NameTree& tree, const std::string& name, const at::Tensor& tensor) {
  const auto dot = name.find('.');
  if (dot == std::string::npos) {
    tree.tensors[name] = tensor;
    return;
  }
  auto& child = tree.children[name.substr(0, dot)];
  if (!child) child = std::make_unique<NameTree>();
  insert(*child, name.substr(dot + 1), tensor);
}

// One TorchScript class per node (the names only have to be unique in the file).
torch::jit::Module build_module(const NameTree& tree, int& counter) {
  torch::jit::Module module(fmt::format("__torch__.ftune_export.Module{}", counter++));
  for (const auto& [name, tensor] : tree.tensors) {
    module.register_parameter(name, tensor.detach().to(at::kFloat).contiguous().clone(), false);
  }
  for (const auto& [name, child] : tree.children) {
    module.register_module(name, build_module(*child, counter));
  }
  return module;
}

std::string activation_source(const std::string& hidden_act, const std::string& x) {
  if (hidden_act == "gelu") return fmt::format("torch.gelu({})", x);
  if (hidden_act == "gelu_new") return fmt::format("torch.gelu({}, approximate='tanh')", x);
  if (hidden_act == "relu") return fmt::format("torch.relu({})", x);
  return fmt::format("torch.silu({})", x);  // silu, swish
}

// forward(input_ids, attention_mask, token_type_ids) for `config`, unrolled over the layers.
std::string forward_source(const BertConfig& config, bool token_classifier) {
  const int64_t H = config.num_attention_heads;
  const int64_t C = config.hidden_size;
  const int64_t D = C / H;
  const std::string eps = fmt::format("{:.17g}", config.layer_norm_eps);
  std::string code = fmt::format(
      "def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> "
      "Tensor:\n"
      "    B = input_ids.size(0)\n"
      "    T = input_ids.size(1)\n"
      "    e = self.bert.embeddings\n"
      "    position_ids = torch.arange(T, device=input_ids.device).unsqueeze(0)\n"
      "    x = torch.embedding(e.word_embeddings.weight, input_ids, {pad})\n"
      "    x = x + torch.embedding(e.token_type_embeddings.weight, token_type_ids)\n"
      "    x = x + torch.embedding(e.position_embeddings.weight, position_ids)\n"
      "    x = torch.layer_norm(x, [{C}], e.LayerNorm.weight, e.LayerNorm.bias, {eps})\n"
      // Hugging Face's get_extended_attention_mask: 0 where kept, float32's lowest where padded.
      "    mask = ((1.0 - attention_mask.to(x.dtype)) * -3.4028234663852886e+38)"
      ".unsqueeze(1).unsqueeze(2)\n",
      fmt::arg("pad", config.pad_token_id),
      fmt::arg("C", C),
      fmt::arg("eps", eps));
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    code += fmt::format(
        "    l = getattr(self.bert.encoder.layer, '{layer}')\n"
        "    s = l.attention.self\n"
        "    q = torch.linear(x, s.query.weight, s.query.bias).view(B, T, {H}, {D}).transpose(1, "
        "2)\n"
        "    k = torch.linear(x, s.key.weight, s.key.bias).view(B, T, {H}, {D}).transpose(1, 2)\n"
        "    v = torch.linear(x, s.value.weight, s.value.bias).view(B, T, {H}, {D}).transpose(1, "
        "2)\n"
        "    scores = torch.matmul(q, k.transpose(-1, -2)) / {sqrt_d} + mask\n"
        "    context = torch.matmul(torch.softmax(scores, -1), v).transpose(1, 2)"
        ".reshape(B, T, {C})\n"
        "    o = l.attention.output\n"
        "    a = torch.layer_norm(torch.linear(context, o.dense.weight, o.dense.bias) + x, [{C}], "
        "o.LayerNorm.weight, o.LayerNorm.bias, {eps})\n"
        "    i = {activation}\n"
        "    x = torch.layer_norm(torch.linear(i, l.output.dense.weight, l.output.dense.bias) + a, "
        "[{C}], l.output.LayerNorm.weight, l.output.LayerNorm.bias, {eps})\n",
        fmt::arg("layer", layer),
        fmt::arg("H", H),
        fmt::arg("D", D),
        fmt::arg("C", C),
        fmt::arg("sqrt_d", fmt::format("{:.17g}", std::sqrt(static_cast<double>(D)))),
        fmt::arg("eps", eps),
        fmt::arg("activation",
                 activation_source(config.hidden_act,
                                   "torch.linear(a, l.intermediate.dense.weight, "
                                   "l.intermediate.dense.bias)")));
  }
  if (token_classifier) {
    code += "    return torch.linear(x, self.classifier.weight, self.classifier.bias)\n";
  } else {
    code +=
        "    p = self.bert.pooler.dense\n"
        "    pooled = torch.tanh(torch.linear(x.select(1, 0), p.weight, p.bias))\n"
        "    return torch.linear(pooled, self.classifier.weight, self.classifier.bias)\n";
  }
  return code;
}

void copy_model_files(const fs::path& from, const fs::path& to) {
  for (const char* name : {"config.json",
                           "vocab.txt",
                           "tokenizer.json",
                           "tokenizer_config.json",
                           "special_tokens_map.json"}) {
    if (!fs::exists(from / name)) continue;
    write_file_atomically(to / name, [&] {
      std::ifstream in(from / name, std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }());
  }
}

}  // namespace

ExportResult export_torchscript(const ExportOptions& options) {
  require_model_folder(options.model_dir);
  if (fs::exists(options.output_dir) && !fs::is_directory(options.output_dir)) {
    throw IoError(fmt::format(
        "exporting: --output '{}': expected a folder (model.pt and config.json go in it), got a "
        "file; hint: --output exported/",
        options.output_dir.string()));
  }
  if (is_marian_folder(options.model_dir)) {
    throw ConfigError(fmt::format(
        "exporting: '{}' is a MarianMT model: only BERT classifiers (sequence or token "
        "classification) export to TorchScript so far; hint: ftune translate and ftune serve run "
        "it as it is",
        options.model_dir.string()));
  }
  const BertConfig config = BertConfig::read((options.model_dir / "config.json").string());
  ClassifierLoadOptions load;
  load.weights = options.weights;
  const bool token = is_token_classifier(config);
  std::shared_ptr<torch::nn::Module> model;
  std::function<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)> run_eager;
  if (token) {
    TokenClassifier classifier = load_token_classifier(options.model_dir, load);
    model = classifier.model.ptr();
    run_eager = [m = classifier.model](const at::Tensor& i,
                                       const at::Tensor& a,
                                       const at::Tensor& t) mutable { return m->forward(i, a, t); };
  } else {
    Classifier classifier = load_classifier(options.model_dir, load);
    model = classifier.model.ptr();
    run_eager = [m = classifier.model](const at::Tensor& i,
                                       const at::Tensor& a,
                                       const at::Tensor& t) mutable { return m->forward(i, a, t); };
  }
  model->eval();
  NameTree tree;
  int64_t parameters = 0;
  for (const auto& item : model->named_parameters()) {
    insert(tree, item.key(), item.value());
    ++parameters;
  }
  int counter = 0;
  torch::jit::Module module = build_module(tree, counter);
  module.define(forward_source(config, token));
  module.eval();

  fs::create_directories(options.output_dir);
  const fs::path file = options.output_dir / "model.pt";
  const fs::path temporary = AtomicFileWriter::temporary_for(file);
  module.save(temporary.string());

  double difference = 0;
  try {
    // Read back what was written and run both on a batch with padding and both token types; only
    // a module that passes takes the name model.pt.
    torch::jit::Module loaded = torch::jit::load(temporary.string());
    loaded.eval();
    const int64_t T = std::min<int64_t>(12, config.max_position_embeddings);
    torch::manual_seed(0);
    const at::Tensor ids = torch::randint(1, config.vocab_size, {2, T}, torch::kLong);
    at::Tensor mask = torch::ones({2, T}, torch::kLong);
    mask[1].slice(0, T / 2).fill_(0);
    at::Tensor types = torch::zeros({2, T}, torch::kLong);
    types.slice(1, T / 2).fill_(1);
    at::Tensor expected;
    at::Tensor got;
    {
      c10::InferenceMode inference;
      expected = run_eager(ids, mask, types);
      got = loaded.forward({ids, mask, types}).toTensor();
    }
    if (token) {  // padded positions hold what each computes there; neither is ever read
      expected = expected.masked_fill(mask.unsqueeze(-1) == 0, 0);
      got = got.masked_fill(mask.unsqueeze(-1) == 0, 0);
    }
    difference = (got - expected).abs().max().item<double>();
    if (!(difference <= 1e-4)) {
      throw Error(fmt::format(
          "exporting: the TorchScript module's logits differ from the model's by {:.3g} (expected "
          "at most 1e-4); nothing was written to '{}'",
          difference,
          options.output_dir.string()));
    }
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);  // a module that fails the check never stays behind
    throw;
  }
  fs::rename(temporary, file);
  copy_model_files(options.model_dir, options.output_dir);
  return {file, token ? "token classifier" : "sequence classifier", parameters, difference};
}

}  // namespace ftune
