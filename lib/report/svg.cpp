// The SVG writer. Coordinates are printed with at most two decimals: charts are laid out in
// pixels, and shorter numbers keep a 150-class confusion matrix's file small.
#include "lib/report/svg.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace ftune {
namespace {

std::string coordinate(double value) {
  std::string text = fmt::format("{:.2f}", value);
  while (!text.empty() && text.back() == '0') text.pop_back();
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text == "-0" ? "0" : text;
}

std::string stroke_attributes(const SvgStroke& stroke) {
  std::string out = fmt::format(
      R"( stroke="{}" stroke-width="{}")", escape_xml(stroke.color), coordinate(stroke.width));
  if (!stroke.dash.empty()) out += fmt::format(R"( stroke-dasharray="{}")", stroke.dash);
  return out;
}

std::string title_element(std::string_view title) {
  return title.empty() ? "" : "<title>" + escape_xml(title) + "</title>";
}

}  // namespace

// Whole pixels: renderers round a fractional size up, and a PNG has whole pixels anyway.
SvgCanvas::SvgCanvas(double width, double height)
    : width_(std::ceil(width)), height_(std::ceil(height)) {}

void SvgCanvas::add_rect(SvgPoint corner, double width, double height, const std::string& fill,
                         const SvgStroke* stroke, std::string_view title) {
  body_ += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="{}"{})",
                       coordinate(corner.x),
                       coordinate(corner.y),
                       coordinate(width),
                       coordinate(height),
                       escape_xml(fill),
                       stroke ? stroke_attributes(*stroke) : "");
  body_ += title.empty() ? "/>\n" : ">" + title_element(title) + "</rect>\n";
}

void SvgCanvas::add_line(SvgPoint from, SvgPoint to, const SvgStroke& stroke) {
  body_ += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}"{}/>)",
                       coordinate(from.x),
                       coordinate(from.y),
                       coordinate(to.x),
                       coordinate(to.y),
                       stroke_attributes(stroke));
  body_ += '\n';
}

void SvgCanvas::add_polyline(const std::vector<SvgPoint>& points, const SvgStroke& stroke) {
  if (points.empty()) return;
  std::string list;
  for (const auto& point : points) {
    if (!list.empty()) list += ' ';
    list += coordinate(point.x) + "," + coordinate(point.y);
  }
  body_ += fmt::format(R"(<polyline points="{}" fill="none" stroke-linejoin="round"{}/>)",
                       list,
                       stroke_attributes(stroke));
  body_ += '\n';
}

void SvgCanvas::add_circle(SvgPoint center, double radius, const std::string& fill,
                           std::string_view title) {
  body_ += fmt::format(R"(<circle cx="{}" cy="{}" r="{}" fill="{}")",
                       coordinate(center.x),
                       coordinate(center.y),
                       coordinate(radius),
                       escape_xml(fill));
  body_ += title.empty() ? "/>\n" : ">" + title_element(title) + "</circle>\n";
}

void SvgCanvas::add_text(SvgPoint at, std::string_view text, const SvgTextStyle& style) {
  std::string attributes = fmt::format(R"(x="{}" y="{}" font-size="{}" fill="{}")",
                                       coordinate(at.x),
                                       coordinate(at.y),
                                       coordinate(style.size),
                                       escape_xml(style.color));
  if (style.anchor != "start") attributes += fmt::format(R"( text-anchor="{}")", style.anchor);
  if (style.bold) attributes += R"( font-weight="bold")";
  if (style.rotate != 0) {
    attributes += fmt::format(R"svg( transform="rotate({} {} {})")svg",
                              coordinate(style.rotate),
                              coordinate(at.x),
                              coordinate(at.y));
  }
  body_ += fmt::format("<text {}>{}</text>\n", attributes, escape_xml(text));
}

std::string SvgCanvas::str() const {
  // font-family on the root: every text inherits it; DejaVu Sans is what Debian renders.
  return fmt::format(
             R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" )"
             R"(font-family="DejaVu Sans, Helvetica, Arial, sans-serif">)"
             "\n",
             coordinate(width_),
             coordinate(height_)) +
         fmt::format(R"(<rect x="0" y="0" width="{}" height="{}" fill="#fff"/>)",
                     coordinate(width_),
                     coordinate(height_)) +
         "\n" + body_ + "</svg>\n";
}

std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += '?';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string format_short(double value) {
  if (!std::isfinite(value)) return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  const double magnitude = std::fabs(value);
  if (value != 0 && (magnitude < 1e-4 || magnitude >= 1e6)) return fmt::format("{:.3g}", value);
  std::string text = fmt::format("{:.4g}", value);
  if (text.find('e') != std::string::npos)
    text = fmt::format("{:.0f}", value);  // 12345 -> 1.234e+04
  return text;
}

std::vector<double> nice_ticks(double low, double high, int count) {
  if (!std::isfinite(low) || !std::isfinite(high)) return {};
  if (high < low) std::swap(low, high);
  if (high == low) return {low};
  const double raw = (high - low) / std::max(count, 1);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power * 10;
  for (const double factor : {1.0, 2.0, 5.0}) {
    if (raw <= factor * power) {
      step = factor * power;
      break;
    }
  }
  std::vector<double> ticks;
  for (double tick = std::ceil(low / step - 1e-9) * step; tick <= high + step * 1e-9;
       tick += step) {
    ticks.push_back(std::fabs(tick) < step * 1e-9 ? 0.0 : tick);
  }
  return ticks;
}

}  // namespace ftune
