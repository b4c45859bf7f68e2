// SvgPlot: small, dependency-free line and scatter charts written as SVG — enough for the
// evaluation's "reward vs beta" curves and "objective A vs objective B" Pareto fronts, readable in
// any browser. Axes get "nice" ticks; each series has a colour, markers, optional point labels;
// reference lines (e.g. the base model alone) are dashed horizontal lines across the whole plot.
// The picture grows to fit its legend (one row per series and reference line, to the right of
// the plot): no name is cut off at the edge.
// Thread-safety: a builder; not thread-safe.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "genarm/core/error.hpp"

namespace genarm::eval {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
  std::vector<std::string> labels;  // optional, one per point
  bool lines = true;                // connect the points in order
};

class SvgPlot {
 public:
  SvgPlot(std::string title, std::string x_label, std::string y_label)
      : title_(std::move(title)), x_label_(std::move(x_label)), y_label_(std::move(y_label)) {}

  void add(PlotSeries s) { series_.push_back(std::move(s)); }
  // A dashed horizontal line at `y` across the plot, named in the legend.
  void add_reference(std::string name, double y) { references_.push_back({std::move(name), y}); }
  void set_log_x(bool log_x) { log_x_ = log_x; }

  std::string render() const {
    constexpr double L = 80, T = 50, B = 60, kPlotW = 450, kPlotH = 370, kRowH = 20, kCharW = 7.8;
    // Legend to the right of the plot: as wide as its longest name (a generous per-character
    // width for 13 px sans-serif), as tall as its rows.
    size_t longest = 0, entries = series_.size() + references_.size();
    for (const auto& s : series_) longest = std::max(longest, utf8_length(s.name));
    for (const auto& r : references_) longest = std::max(longest, utf8_length(r.name));
    const double R = std::max(60.0, 52 + kCharW * static_cast<double>(longest));
    const double W = L + kPlotW + R, H = std::max(T + kPlotH + B, T + 20 + kRowH * static_cast<double>(entries));
    double x0 = kInf, x1 = -kInf, y0 = kInf, y1 = -kInf;
    for (const auto& s : series_) {
      for (size_t i = 0; i < s.x.size(); ++i) {
        x0 = std::min(x0, tx(s.x[i]));
        x1 = std::max(x1, tx(s.x[i]));
        y0 = std::min(y0, s.y[i]);
        y1 = std::max(y1, s.y[i]);
      }
    }
    for (const auto& r : references_) y0 = std::min(y0, r.y), y1 = std::max(y1, r.y);
    if (!(x0 <= x1)) x0 = 0, x1 = 1;
    if (!(y0 <= y1)) y0 = 0, y1 = 1;
    if (x0 == x1) x0 -= 0.5, x1 += 0.5;
    if (y0 == y1) y0 -= 0.5, y1 += 0.5;
    const double xpad = (x1 - x0) * 0.05, ypad = (y1 - y0) * 0.08;
    x0 -= xpad, x1 += xpad, y0 -= ypad, y1 += ypad;
    const auto px = [&](double v) { return L + (tx(v) - x0) / (x1 - x0) * (W - L - R); };
    const auto py = [&](double v) { return H - B - (v - y0) / (y1 - y0) * (H - T - B); };

    std::string svg;
    svg += fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
               "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">\n", W, H, W, H);
    svg += fmt("<rect width=\"%g\" height=\"%g\" fill=\"white\"/>\n", W, H);
    svg += fmt("<text x=\"%g\" y=\"28\" font-size=\"16\" font-weight=\"bold\">%s</text>\n", L, escape(title_).c_str());
    // Grid and ticks.
    for (double v : ticks(y0, y1)) {
      svg += fmt("<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#e5e5e5\"/>\n", L, py(v), W - R, py(v));
      svg += fmt("<text x=\"%g\" y=\"%g\" text-anchor=\"end\" fill=\"#444\">%s</text>\n", L - 6, py(v) + 4, num(v).c_str());
    }
    if (log_x_) {
      for (const auto& s : series_) {
        for (double v : s.x) {
          svg += fmt("<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" fill=\"#444\">%s</text>\n", px(v), H - B + 18, num(v).c_str());
        }
      }
    } else {
      for (double v : ticks(x0, x1)) {
        svg += fmt("<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#e5e5e5\"/>\n", px(v), T, px(v), H - B);
        svg += fmt("<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" fill=\"#444\">%s</text>\n", px(v), H - B + 18, num(v).c_str());
      }
    }
    svg += fmt("<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#333\"/>\n", L, T, W - L - R, H - T - B);
    svg += fmt("<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%s</text>\n", (L + W - R) / 2, H - 14, escape(x_label_).c_str());
    svg += fmt("<text transform=\"translate(20 %g) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", (T + H - B) / 2,
               escape(y_label_).c_str());
    // Series.
    for (size_t k = 0; k < series_.size(); ++k) {
      const auto& s = series_[k];
      const char* colour = kColours[k % (sizeof kColours / sizeof *kColours)];
      if (s.lines && s.x.size() > 1) {
        std::string points;
        for (size_t i = 0; i < s.x.size(); ++i) points += fmt("%g,%g ", px(s.x[i]), py(s.y[i]));
        svg += fmt("<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", points.c_str(), colour);
      }
      for (size_t i = 0; i < s.x.size(); ++i) {
        svg += fmt("<circle cx=\"%g\" cy=\"%g\" r=\"4.5\" fill=\"%s\"/>\n", px(s.x[i]), py(s.y[i]), colour);
        if (i < s.labels.size() && !s.labels[i].empty()) {
          // Labels near the right edge go to the left of their point, so they stay inside.
          const bool left = px(s.x[i]) > W - R - 60;
          svg += fmt("<text x=\"%g\" y=\"%g\" font-size=\"11\" fill=\"#333\" text-anchor=\"%s\">%s</text>\n",
                     px(s.x[i]) + (left ? -7 : 7), py(s.y[i]) - 6, left ? "end" : "start", escape(s.labels[i]).c_str());
        }
      }
      const double ly = T + 10 + kRowH * static_cast<double>(k);
      svg += fmt("<circle cx=\"%g\" cy=\"%g\" r=\"5\" fill=\"%s\"/>\n", W - R + 22, ly, colour);
      svg += fmt("<text x=\"%g\" y=\"%g\">%s</text>\n", W - R + 40, ly + 4, escape(s.name).c_str());
    }
    for (size_t k = 0; k < references_.size(); ++k) {
      const auto& r = references_[k];
      const char* colour = kReferenceColours[k % (sizeof kReferenceColours / sizeof *kReferenceColours)];
      svg += fmt("<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\" "
                 "stroke-dasharray=\"7 5\"/>\n", L, py(r.y), W - R, py(r.y), colour);
      const double ly = T + 10 + kRowH * static_cast<double>(series_.size() + k);
      svg += fmt("<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\" "
                 "stroke-dasharray=\"7 5\"/>\n", W - R + 10, ly, W - R + 34, ly, colour);
      svg += fmt("<text x=\"%g\" y=\"%g\">%s</text>\n", W - R + 40, ly + 4, escape(r.name).c_str());
    }
    svg += "</svg>\n";
    return svg;
  }

  void write(const std::filesystem::path& path) const {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) fail(ErrorCategory::kIo, path.string(), ": cannot open for writing");
    out << render();
    if (!out) fail(ErrorCategory::kIo, path.string(), ": write failed");
  }

 private:
  static constexpr double kInf = std::numeric_limits<double>::infinity();
  static constexpr const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
  static constexpr const char* kReferenceColours[] = {"#555555", "#999999", "#bcbd22"};

  struct Reference {
    std::string name;
    double y;
  };

  // Characters, not bytes, of a UTF-8 name (continuation bytes do not count).
  static size_t utf8_length(const std::string& s) {
    return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  }

  double tx(double v) const { return log_x_ ? std::log10(std::max(v, 1e-12)) : v; }

  template <typename... A>
  static std::string fmt(const char* f, A... args) {
    char buf[512];
    const int n = std::snprintf(buf, sizeof buf, f, args...);
    if (n < static_cast<int>(sizeof buf)) return std::string(buf, static_cast<size_t>(std::max(n, 0)));
    std::string big(static_cast<size_t>(n) + 1, '\0');
    std::snprintf(big.data(), big.size(), f, args...);
    big.resize(static_cast<size_t>(n));
    return big;
  }
  static std::string num(double v) {
    if (std::abs(v) < 1e-12) v = 0;
    return fmt("%g", v);
  }
  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
      }
    }
    return out;
  }
  // About five round-numbered ticks covering [lo, hi].
  static std::vector<double> ticks(double lo, double hi) {
    const double raw = (hi - lo) / 5;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double r = raw / mag;
    const double step = (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
    std::vector<double> out;
    for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push_back(v);
    return out;
  }

  std::string title_, x_label_, y_label_;
  std::vector<PlotSeries> series_;
  std::vector<Reference> references_;
  bool log_x_ = false;
};

}  // namespace genarm::eval
