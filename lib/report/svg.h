// A small SVG 1.1 writer for ftune's pictures (learning curves, confusion matrices): shapes and
// text appended in drawing order, text XML-escaped, numbers printed short. Not a plotting
// library: the charts (lib/report/charts.h) do their own layout.
//
//   SvgCanvas svg(640, 400);
//   svg.add_line({40, 360}, {620, 360}, {"#333"});
//   SvgTextStyle title;
//   title.anchor = "middle";
//   svg.add_text({320, 20}, "loss & F1", title);
//   write_file_atomically("curves.svg", svg.str());
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ftune {

struct SvgPoint {
  double x = 0;
  double y = 0;
};

struct SvgStroke {
  std::string color = "#000";
  double width = 1;
  std::string dash;  // stroke-dasharray, e.g. "4 3"; empty: solid
};

struct SvgTextStyle {
  double size = 12;
  std::string anchor = "start";  // start | middle | end
  std::string color = "#222";
  bool bold = false;
  double rotate = 0;  // degrees, about the text's anchor point
};

class SvgCanvas {
 public:
  SvgCanvas(double width, double height);

  // `title`: a tooltip (an SVG <title> child), shown by browsers on hover.
  void add_rect(SvgPoint corner, double width, double height, const std::string& fill,
                const SvgStroke* stroke = nullptr, std::string_view title = {});
  void add_line(SvgPoint from, SvgPoint to, const SvgStroke& stroke);
  void add_polyline(const std::vector<SvgPoint>& points, const SvgStroke& stroke);
  void add_circle(SvgPoint center, double radius, const std::string& fill,
                  std::string_view title = {});
  void add_text(SvgPoint at, std::string_view text, const SvgTextStyle& style = {});

  // The whole document: XML declaration-free <svg> with width, height and viewBox, a white
  // background, the shapes in the order added.
  std::string str() const;

  double width() const { return width_; }
  double height() const { return height_; }

 private:
  double width_;
  double height_;
  std::string body_;
};

// &, <, >, " and ' as XML entities; bytes below 0x20 other than tab and newline (invalid in
// XML 1.0) as '?'.
std::string escape_xml(std::string_view text);

// Up to 4 significant digits, no trailing zeros, no exponent between 1e-4 and 1e6: 0.8812,
// 1200, 2.5e-05.
std::string format_short(double value);

// Round tick positions covering [low, high]: about `count` of them, spaced 1, 2 or 5 x 10^k.
std::vector<double> nice_ticks(double low, double high, int count);

}  // namespace ftune
