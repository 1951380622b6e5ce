"""Reads what `ftune train` / `ftune eval` / `ftune report` wrote, with real parsers, for
tests/app/run_report_test.cpp; prints one JSON object.

  check_run_files.py html FILE   Python's html.parser: every element closed in order (void elements
                                 aside), the counts of a few tags, the text of <title>.
  check_run_files.py card FILE   huggingface_hub's ModelCard.load: the front matter as Hugging Face
                                 reads it, and its eval results (model-index) flattened.
"""
import json
import sys
from html.parser import HTMLParser

VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source",
        "track", "wbr"}


class Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.counts, self.title = [], [], {}, ""
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag not in VOID:
            self.stack.append((tag, self.getpos()))
        self.in_title = tag == "title" and len(self.stack) <= 3  # the document's, not an SVG's

    def handle_startendtag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"</{tag}> at {self.getpos()} closes "
                               f"{self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        self.in_title = False

    def handle_data(self, data):
        if self.in_title:
            self.title += data


def check_html(path):
    checker = Checker()
    with open(path, encoding="utf-8") as f:
        checker.feed(f.read())
    checker.close()
    errors = checker.errors + [f"<{tag}> at {pos} never closed" for tag, pos in checker.stack]
    return {"errors": errors, "counts": checker.counts, "title": checker.title}


def check_card(path):
    from huggingface_hub import ModelCard
    card = ModelCard.load(path)
    data = card.data.to_dict()
    results = [{"task_type": r.task_type, "dataset_name": r.dataset_name,
                "dataset_split": r.dataset_split, "metric_type": r.metric_type,
                "metric_value": r.metric_value} for r in (card.data.eval_results or [])]
    return {"data": data, "eval_results": results, "model_name": card.data.model_name,
            "text_starts": card.text.lstrip()[:200]}


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    print(json.dumps(check_html(path) if kind == "html" else check_card(path)))
