// Entity-level metrics for sequence labelling (NER) equal to seqeval 1.2.2's default mode (the
// conlleval rules, as Hugging Face's run_ner reports them): entities read from IOB1/IOB2/IOE/
// IOBES tags, then per entity type precision, recall, F1 and support, the micro, macro and
// weighted averages, and token accuracy. An I- tag with no B- before it starts an entity, as
// seqeval's default mode reads it (not an error). Also seqeval's mode="strict" with
// scheme=IOB2, where only a B- starts an entity. Not here: the other strict schemes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/metrics/classification_metrics.h"

namespace ftune {

// One entity: its type and first..last token, counted over the sentences laid end to end with
// one "O" after each (seqeval's offsets).
struct Entity {
  std::string type;
  size_t begin = 0;
  size_t end = 0;  // inclusive
  bool operator==(const Entity& other) const {
    return type == other.type && begin == other.begin && end == other.end;
  }
};

// seqeval.metrics.sequence_labeling.get_entities(sentences) (prefix tags: "B-PER", "I-LOC",
// "O"; a tag without a "-TYPE" has type "_").
std::vector<Entity> get_entities(const std::vector<std::vector<std::string>>& sentences);

// Which entities count: seqeval's default mode (conlleval), or mode="strict" with scheme=IOB2.
enum class SeqevalMode { kDefault, kStrictIob2 };

// seqeval.scheme.Entities(sentences, IOB2) for mode="strict": an entity is a B-X and the I-X
// right after it; an I- with no B- before it, or of another type, belongs to none. The type is
// the tag after its prefix with '-' stripped from both ends ("_" when empty). Offsets as
// get_entities'. DataError naming the sentence, position and tag for a tag that is not B-, I-
// or O (seqeval raises "Invalid token is found").
std::vector<Entity> get_entities_strict_iob2(
    const std::vector<std::vector<std::string>>& sentences);

struct EntityReport {
  std::vector<ClassMetrics> per_type;  // sorted by type
  ClassMetrics micro_avg, macro_avg, weighted_avg;
  double accuracy = 0.0;  // seqeval's accuracy_score: tags equal, over all tokens
};

// classification_report(y_true, y_pred[, mode="strict", scheme=IOB2]) and accuracy_score's
// numbers. DataError when the sentence counts or a sentence's lengths differ, or there is no
// token.
EntityReport compute_entity_report(const std::vector<std::vector<std::string>>& y_true,
                                   const std::vector<std::vector<std::string>>& y_pred,
                                   SeqevalMode mode = SeqevalMode::kDefault);

// seqeval's classification_report text (digits=2 by default), character for character.
std::string format_entity_report(const EntityReport& report, int digits = 2);

// seqeval's output_dict: one object per type, then "micro avg", "macro avg", "weighted avg".
nlohmann::json entity_report_to_json(const EntityReport& report);

}  // namespace ftune
