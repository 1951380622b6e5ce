// seqeval's default mode (chunk boundaries by the conlleval rules) and strict IOB2 mode, then
// counts per type.
#include "lib/metrics/sequence_labeling.h"

#include <map>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "lib/metrics/sklearn_arithmetic.h"
#include "util/error.h"

namespace ftune {
namespace {

using namespace sklearn_arithmetic;  // numpy-order averages, zero division, row layout

// Whether an entity ended between the previous token and this one (seqeval's end_of_chunk).
bool end_of_chunk(char prev_tag, char tag, const std::string& prev_type, const std::string& type) {
  if (prev_tag == 'E' || prev_tag == 'S') return true;
  if ((prev_tag == 'B' || prev_tag == 'I') && (tag == 'B' || tag == 'S' || tag == 'O')) {
    return true;
  }
  return prev_tag != 'O' && prev_tag != '.' && prev_type != type;
}

// Whether an entity starts at this token (seqeval's start_of_chunk).
bool start_of_chunk(char prev_tag, char tag, const std::string& prev_type,
                    const std::string& type) {
  if (tag == 'B' || tag == 'S') return true;
  if ((prev_tag == 'E' || prev_tag == 'S' || prev_tag == 'O') && (tag == 'E' || tag == 'I')) {
    return true;
  }
  return tag != 'O' && tag != '.' && prev_type != type;
}

}  // namespace

std::vector<Entity> get_entities(const std::vector<std::vector<std::string>>& sentences) {
  std::vector<std::string> tags;
  for (const auto& sentence : sentences) {
    tags.insert(tags.end(), sentence.begin(), sentence.end());
    tags.push_back("O");
  }
  tags.push_back("O");  // closes the last entity
  std::vector<Entity> entities;
  char prev_tag = 'O';
  std::string prev_type;
  size_t begin = 0;
  for (size_t i = 0; i < tags.size(); ++i) {
    const std::string& chunk = tags[i];
    // The tag is the first character; the type what follows its first '-' ("B-PER" -> PER),
    // or the whole rest when there is none, "_" when that is empty.
    const char tag = chunk.empty() ? '\0' : chunk[0];
    std::string rest = chunk.size() > 1 ? chunk.substr(1) : "";
    const auto dash = rest.find('-');
    std::string type = dash == std::string::npos ? rest : rest.substr(dash + 1);
    if (type.empty()) type = "_";
    if (end_of_chunk(prev_tag, tag, prev_type, type)) entities.push_back({prev_type, begin, i - 1});
    if (start_of_chunk(prev_tag, tag, prev_type, type)) begin = i;
    prev_tag = tag;
    prev_type = type;
  }
  return entities;
}

std::vector<Entity> get_entities_strict_iob2(
    const std::vector<std::vector<std::string>>& sentences) {
  // seqeval.scheme.IOB2: the prefix is the first character (B, I or O); the type the rest with
  // the delimiter stripped from both ends.
  auto type_of = [](const std::string& tag) {
    const auto first = tag.find_first_not_of('-', 1);
    const auto last = tag.find_last_not_of('-');
    std::string type =
        first == std::string::npos || last < first ? "" : tag.substr(first, last - first + 1);
    return type.empty() ? std::string("_") : type;
  };
  std::vector<Entity> entities;
  size_t offset = 0;  // the sentence's first token in get_entities' layout
  for (size_t s = 0; s < sentences.size(); ++s) {
    const auto& tags = sentences[s];
    for (size_t i = 0; i < tags.size(); ++i) {
      const char prefix = tags[i].empty() ? '\0' : tags[i][0];
      if (prefix != 'B' && prefix != 'I' && prefix != 'O') {
        throw DataError(fmt::format(
            "computing strict IOB2 entities: sentence {} token {}: tag '{}': expected B-TYPE, "
            "I-TYPE or O; hint: strict mode reads IOB2 only (seqeval raises 'Invalid token is "
            "found'); use the default mode for IOB1, IOE or IOBES tags",
            s + 1,
            i + 1,
            tags[i]));
      }
    }
    size_t i = 0;
    while (i < tags.size()) {
      if (tags[i][0] != 'B') {
        ++i;
        continue;
      }
      const std::string type = type_of(tags[i]);
      size_t end = i + 1;  // one past the entity
      while (end < tags.size() && tags[end][0] == 'I' && type_of(tags[end]) == type) ++end;
      entities.push_back({type, offset + i, offset + end - 1});
      i = end;
    }
    offset += tags.size() + 1;
  }
  return entities;
}

EntityReport compute_entity_report(const std::vector<std::vector<std::string>>& y_true,
                                   const std::vector<std::vector<std::string>>& y_pred,
                                   SeqevalMode mode) {
  if (y_true.size() != y_pred.size()) {
    throw DataError(fmt::format(
        "computing entity metrics: expected as many predicted sentences as true ones ({}), got {}",
        y_true.size(),
        y_pred.size()));
  }
  size_t tokens = 0, equal = 0;
  for (size_t i = 0; i < y_true.size(); ++i) {
    if (y_true[i].size() != y_pred[i].size()) {
      throw DataError(fmt::format(
          "computing entity metrics: sentence {}: expected {} predicted tags (one per token), "
          "got {}",
          i,
          y_true[i].size(),
          y_pred[i].size()));
    }
    for (size_t k = 0; k < y_true[i].size(); ++k) equal += y_true[i][k] == y_pred[i][k];
    tokens += y_true[i].size();
  }
  if (tokens == 0) throw DataError("computing entity metrics: expected at least one token, got 0");
  std::map<std::string, std::set<std::pair<size_t, size_t>>> true_by_type, pred_by_type;
  const bool strict = mode == SeqevalMode::kStrictIob2;
  for (const auto& e : strict ? get_entities_strict_iob2(y_true) : get_entities(y_true)) {
    true_by_type[e.type].insert({e.begin, e.end});
  }
  for (const auto& e : strict ? get_entities_strict_iob2(y_pred) : get_entities(y_pred)) {
    pred_by_type[e.type].insert({e.begin, e.end});
  }
  std::set<std::string> types;
  for (const auto& [type, spans] : true_by_type) types.insert(type);
  for (const auto& [type, spans] : pred_by_type) types.insert(type);

  EntityReport report;
  report.accuracy = static_cast<double>(equal) / static_cast<double>(tokens);
  std::vector<double> precisions, recalls, f1s;
  std::vector<int64_t> supports;
  int64_t all_tp = 0, all_pred = 0, all_true = 0;
  for (const auto& type : types) {
    const auto& truth = true_by_type[type];
    const auto& predicted = pred_by_type[type];
    int64_t tp = 0;
    for (const auto& span : predicted) tp += static_cast<int64_t>(truth.count(span));
    const auto n_true = static_cast<int64_t>(truth.size());
    const auto n_pred = static_cast<int64_t>(predicted.size());
    const double precision = divide_or_zero(tp, n_pred), recall = divide_or_zero(tp, n_true);
    precisions.push_back(precision);
    recalls.push_back(recall);
    f1s.push_back(compute_f1(precision, recall));
    supports.push_back(n_true);
    report.per_type.push_back({type, precision, recall, f1s.back(), n_true});
    all_tp += tp;
    all_pred += n_pred;
    all_true += n_true;
  }
  const double micro_p = divide_or_zero(all_tp, all_pred),
               micro_r = divide_or_zero(all_tp, all_true);
  report.micro_avg = {"micro avg", micro_p, micro_r, compute_f1(micro_p, micro_r), all_true};
  if (types.empty()) {
    report.macro_avg = {"macro avg", 0.0, 0.0, 0.0, 0};
    report.weighted_avg = {"weighted avg", 0.0, 0.0, 0.0, 0};
    return report;
  }
  report.macro_avg = {"macro avg",
                      average_like_numpy(precisions),
                      average_like_numpy(recalls),
                      average_like_numpy(f1s),
                      all_true};
  // No true entity at all: seqeval's weighted average is its zero_division value, 0.
  auto weighted = [&](const std::vector<double>& values) {
    return all_true == 0 ? 0.0 : weighted_average_like_numpy(values, supports);
  };
  report.weighted_avg = {
      "weighted avg", weighted(precisions), weighted(recalls), weighted(f1s), all_true};
  return report;
}

std::string format_entity_report(const EntityReport& report, int digits) {
  if (digits < 0 || digits > kMaxDigits) {
    throw Error(fmt::format(
        "formatting entity report: argument 'digits': expected 0..{}, got {}", kMaxDigits, digits));
  }
  return format_report_rows(
      report.per_type, {&report.micro_avg, &report.macro_avg, &report.weighted_avg}, digits);
}

nlohmann::json entity_report_to_json(const EntityReport& report) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& row : report.per_type) json[row.label] = metrics_to_json(row);
  for (const auto* row : {&report.micro_avg, &report.macro_avg, &report.weighted_avg}) {
    json[row->label] = metrics_to_json(*row);
  }
  return json;
}

}  // namespace ftune
