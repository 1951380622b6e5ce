// Tests for lib/report/svg and lib/report/charts: escaping, short numbers and ticks against values
// worked out by hand; the learning curves' marks (best step, early stop) and the confusion
// matrix's cells (counts, tooltips, colours by share of the row); and both pictures rendered to
// PNG by a real SVG renderer (rsvg-convert, Debian's librsvg2-bin, which scripts/install-deps.sh
// installs), which fails on malformed SVG, at the size the SVG declares.
#include "lib/report/charts.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "lib/report/svg.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Svg, EscapesMarkupAndControlBytes) {
  EXPECT_EQ(escape_xml("a<b & \"c\" 'd'\x01\te"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;?\te");
  EXPECT_EQ(escape_xml("café"), "café");  // UTF-8 passes through
}

TEST(Svg, PrintsNumbersShort) {
  EXPECT_EQ(format_short(0.88123), "0.8812");
  EXPECT_EQ(format_short(1200), "1200");
  EXPECT_EQ(format_short(12345), "12345");
  EXPECT_EQ(format_short(2.5e-05), "2.5e-05");
  EXPECT_EQ(format_short(0), "0");
  EXPECT_EQ(format_short(-0.5), "-0.5");
  EXPECT_EQ(format_short(3e6), "3e+06");
  EXPECT_EQ(format_short(std::nan("")), "nan");
}

TEST(Svg, TicksAreRoundSteps) {
  auto expect_ticks = [](double low, double high, int n, const std::vector<double>& want) {
    const auto got = nice_ticks(low, high, n);
    ASSERT_EQ(got.size(), want.size()) << low << ".." << high;
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;
  };
  expect_ticks(0, 1, 5, {0, 0.2, 0.4, 0.6, 0.8, 1.0});            // raw step 0.2: 2 x 0.1
  expect_ticks(0.43, 0.91, 5, {0.5, 0.6, 0.7, 0.8, 0.9});         // raw 0.096: rounds up to 0.1
  expect_ticks(0, 1236, 8, {0, 200, 400, 600, 800, 1000, 1200});  // raw 154.5: 2 x 100
  expect_ticks(-0.3, 0.3, 3, {-0.2, 0, 0.2});                     // raw 0.2; zero exactly 0
  expect_ticks(5, 5, 4, {5});
}

TEST(Svg, CanvasWritesShapesInOrderOnWhite) {
  SvgCanvas svg(100, 50);
  SvgStroke dashed{"#123456", 1.5, "4 3"};
  svg.add_line({0, 0}, {10.004, 20.5}, dashed);
  svg.add_circle({5, 5}, 2, "red", "a <tip>");
  SvgTextStyle style;
  style.rotate = -90;
  style.anchor = "end";
  svg.add_text({3, 4}, "x & y", style);
  const std::string text = svg.str();
  EXPECT_EQ(text.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100\" height=\"50\" "
                       "viewBox=\"0 0 100 50\"",
                       0),
            0u)
      << text;
  EXPECT_NE(
      text.find(R"(<line x1="0" y1="0" x2="10" y2="20.5" stroke="#123456" stroke-width="1.5" )"
                R"(stroke-dasharray="4 3"/>)"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("<title>a &lt;tip&gt;</title></circle>"), std::string::npos) << text;
  EXPECT_NE(text.find(R"x(text-anchor="end" transform="rotate(-90 3 4)">x &amp; y</text>)x"),
            std::string::npos)
      << text;
  EXPECT_LT(text.find("<line"), text.find("<circle"));
  EXPECT_EQ(text.substr(text.size() - 7), "</svg>\n");
}

LearningCurves example_curves() {
  LearningCurves curves;
  curves.title = "intent";
  for (int64_t step = 10; step <= 60; step += 10) {
    curves.train_loss.push_back({step, 1.0 / static_cast<double>(step)});
  }
  curves.eval_loss = {{20, 0.7}, {40, 0.4}, {60, 0.5}};
  curves.metric = "macro_f1";
  curves.eval_metric = {{20, 0.5}, {40, 0.9}, {60, 0.8}};
  curves.best_step = 40;
  curves.early_stop_step = 60;
  return curves;
}

TEST(LearningCurves, MarkTheBestStepAndTheEarlyStop) {
  const std::string svg = render_learning_curves(example_curves());
  EXPECT_NE(svg.find("Learning curves: intent"), std::string::npos);
  EXPECT_NE(svg.find(">best: step 40, macro_f1 0.9</text>"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">early stop: step 60</text>"), std::string::npos) << svg;
  EXPECT_EQ(count(svg, "<polyline"), 3u);  // training loss, validation loss, validation metric
  // Every evaluation is a dot with its value: 3 losses, 3 metric values.
  EXPECT_EQ(count(svg, "<circle"), 6u);
  EXPECT_NE(svg.find("<title>validation macro_f1 0.9 at step 40</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>validation loss 0.5 at step 60</title>"), std::string::npos);
}

TEST(LearningCurves, WithoutEvaluationsSaySoAndSkipNonFinitePoints) {
  LearningCurves curves;
  curves.train_loss = {{1, 2.0}, {2, std::nan("")}, {3, 1.0}};
  const std::string svg = render_learning_curves(curves);
  EXPECT_NE(svg.find("no evaluations yet"), std::string::npos);
  EXPECT_EQ(svg.find("best:"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos) << svg;
  EXPECT_EQ(count(svg, "<polyline"), 1u);
}

ConfusionMatrix three_labels() {
  ConfusionMatrix matrix;
  matrix.labels = {"neg", "neu", "<pos>"};
  matrix.counts = {{5, 0, 0}, {1, 3, 0}, {0, 2, 2}};
  return matrix;
}

// The fill of the cell whose tooltip is `title`.
std::string fill_of(const std::string& svg, const std::string& title) {
  const size_t at = svg.find("<title>" + title + "</title>");
  if (at == std::string::npos) return "missing";
  const size_t rect = svg.rfind("<rect", at);
  const std::string element = svg.substr(rect, at - rect);
  const size_t fill = element.find("fill=\"");
  return element.substr(fill + 6, 7);
}

TEST(ConfusionMatrixChart, CellsCarryCountsAndRowShares) {
  const std::string svg = render_confusion_matrix(three_labels());
  EXPECT_EQ(count(svg, "<title>true "), 5u);  // the non-zero cells
  EXPECT_EQ(svg.find("predicted neu: 0"), std::string::npos);
  // Colours: a whole row dark blue, 3 of 4 halfway between #6baed6 and #08306b (57.5, 111, 160.5
  // rounded), 1 of 4 halfway between white and #6baed6.
  EXPECT_EQ(fill_of(svg, "true neg, predicted neg: 5 (100.0% of the row)"), "#08306b");
  EXPECT_EQ(fill_of(svg, "true neu, predicted neu: 3 (75.0% of the row)"), "#3a6fa1");
  EXPECT_EQ(fill_of(svg, "true neu, predicted neg: 1 (25.0% of the row)"), "#b5d7eb");
  EXPECT_EQ(fill_of(svg, "true &lt;pos&gt;, predicted neu: 2 (50.0% of the row)"), "#6baed6");
  // Non-zero counts written in their cells (white on dark), zeros left blank.
  EXPECT_NE(svg.find("fill=\"#fff\" text-anchor=\"middle\">5</text>"), std::string::npos) << svg;
  EXPECT_NE(svg.find("fill=\"#222\" text-anchor=\"middle\">1</text>"), std::string::npos) << svg;
  EXPECT_EQ(svg.find(">0</text>"), std::string::npos);
  EXPECT_EQ(count(svg, ">&lt;pos&gt;</text>"), 2u);  // row and column label, escaped
}

TEST(ConfusionMatrixChart, HundredFiftyClassesKeepTooltipsAndLabels) {
  ConfusionMatrix matrix;
  for (int i = 0; i < 150; ++i) matrix.labels.push_back("intent_" + std::to_string(i));
  matrix.counts.assign(150, std::vector<int64_t>(150, 0));
  for (int i = 0; i < 150; ++i) {
    matrix.counts[i][i] = 28;
    matrix.counts[i][(i + 1) % 150] = 2;
  }
  const std::string svg = render_confusion_matrix(matrix);
  EXPECT_EQ(count(svg, "<title>true "), 300u);
  EXPECT_LT(svg.size(), 400'000u);
  EXPECT_EQ(count(svg, ">intent_149</text>"), 2u);
  EXPECT_EQ(svg.find(">28</text>"), std::string::npos);  // 9-pixel cells: counts in tooltips only
  EXPECT_NE(svg.find("<title>true intent_7, predicted intent_8: 2 (6.7% of the row)</title>"),
            std::string::npos);
  // 2 of 30 is drawn at the 10 % floor: 0.2 of the way from white to #6baed6.
  EXPECT_EQ(fill_of(svg, "true intent_7, predicted intent_8: 2 (6.7% of the row)"), "#e1eff7");
}

TEST(ConfusionMatrixChart, RefusesANonSquareMatrix) {
  ConfusionMatrix matrix = three_labels();
  matrix.counts[1].pop_back();
  EXPECT_THROW(render_confusion_matrix(matrix), std::invalid_argument);
  matrix = three_labels();
  matrix.counts.pop_back();
  EXPECT_THROW(render_confusion_matrix(matrix), std::invalid_argument);
}

// PNG: 8-byte signature, then the IHDR chunk with width and height (big-endian) at bytes 16..23.
std::pair<uint32_t, uint32_t> png_size(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 24 || bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return {0, 0};
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  return {be32(16), be32(20)};
}

std::pair<uint32_t, uint32_t> declared_size(const std::string& svg) {
  auto attribute = [&](const std::string& name) -> uint32_t {
    const size_t at = svg.find(" " + name + "=\"");
    if (at == std::string::npos) return 0;
    return static_cast<uint32_t>(std::stod(svg.substr(at + name.size() + 3)) + 0.5);
  };
  return {attribute("width"), attribute("height")};
}

TEST(ChartsRender, RsvgConvertRendersEachPictureAtItsSize) {
  if (std::system("command -v rsvg-convert >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "rsvg-convert not installed; hint: apt-get install librsvg2-bin "
                    "(scripts/install-deps.sh does)";
  }
  const fs::path dir = fs::temp_directory_path() / ("ftune_charts_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ConfusionMatrix many;
  for (int i = 0; i < 150; ++i) many.labels.push_back("label_" + std::to_string(i));
  many.counts.assign(150, std::vector<int64_t>(150, 1));
  const std::vector<std::pair<std::string, std::string>> pictures = {
      {"curves", render_learning_curves(example_curves())},
      {"matrix3", render_confusion_matrix(three_labels())},
      {"matrix150", render_confusion_matrix(many)}};
  for (const auto& [name, svg] : pictures) {
    const fs::path svg_file = dir / (name + ".svg");
    const fs::path png_file = dir / (name + ".png");
    std::ofstream(svg_file) << svg;
    const std::string command =
        "rsvg-convert -o '" + png_file.string() + "' '" + svg_file.string() + "' 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << name << ": rsvg-convert failed";
    EXPECT_EQ(png_size(png_file), declared_size(svg)) << name;
    EXPECT_GT(declared_size(svg).first, 0u) << name;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ftune
