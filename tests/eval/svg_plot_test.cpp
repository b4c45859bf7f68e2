#include "genarm/eval/svg_plot.hpp"

#include "test_support.hpp"

namespace genarm::eval {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(SvgPlot, DrawsSeriesPointsLabelsAndEscapesText) {
  SvgPlot plot("Reward vs beta <GenARM>", "beta", "mean sentiment");
  plot.set_log_x(true);
  plot.add({"positive ARM", {0.5, 1, 2}, {10.1, 5.3, 2.5}, {"b=0.5", "b=1", "b=2"}, true});
  plot.add({"base", {0.5, 1, 2}, {0.3, 0.3, 0.3}, {}, true});
  const std::string svg = plot.render();
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 2u);
  EXPECT_EQ(count(svg, "<circle"), 6u + 2u);  // points + legend markers
  EXPECT_NE(svg.find("&lt;GenARM&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<GenARM>"), std::string::npos);
  EXPECT_NE(svg.find("b=0.5"), std::string::npos);
}

// A reference line spans the plot, dashed, and is in the legend; the picture widens and grows to
// fit long names and many legend rows.
TEST(SvgPlot, ReferenceLinesAndALegendThatFitsInsideThePicture) {
  SvgPlot plot("t", "x", "y");
  plot.add({"short", {1, 2}, {0, 1}, {}, true});
  plot.add_reference("base alone", 5.0);  // outside the series' range: the y axis must reach it
  const std::string svg = plot.render();
  EXPECT_EQ(count(svg, "stroke-dasharray"), 2u);  // the line and its legend sample
  EXPECT_NE(svg.find(">base alone</text>"), std::string::npos);
  EXPECT_NE(svg.find(">5</text>"), std::string::npos);  // a tick at the reference's value
  const auto width_of = [](const std::string& s) {
    const size_t p = s.find("width=\"");
    return std::stod(s.substr(p + 7));
  };
  const auto rightmost_legend_x = [](const std::string& s) {
    double x = 0;  // the x of the last legend text, the one furthest right
    for (size_t p = s.find("<text x=\""); p != std::string::npos; p = s.find("<text x=\"", p + 1)) x = std::max(x, std::stod(s.substr(p + 9)));
    return x;
  };
  const std::string long_name(60, 'n');
  SvgPlot wide("t", "x", "y");
  wide.add({long_name, {1, 2}, {0, 1}, {}, true});
  for (int i = 0; i < 30; ++i) wide.add_reference("ref " + std::to_string(i), i);
  const std::string wsvg = wide.render();
  EXPECT_GT(width_of(wsvg), width_of(svg));
  EXPECT_GE(width_of(wsvg), rightmost_legend_x(wsvg) + 7.0 * 60);  // 60 characters at >= 7 px fit
  const size_t h = wsvg.find("height=\"");
  EXPECT_GE(std::stod(wsvg.substr(h + 8)), 50 + 20.0 * 31);  // 31 legend rows fit
}

TEST(SvgPlot, SinglePointAndEmptyPlotsRender) {
  SvgPlot one("one", "x", "y");
  one.add({"p", {1}, {1}, {}, false});
  EXPECT_NE(one.render().find("<circle"), std::string::npos);
  SvgPlot none("none", "x", "y");
  EXPECT_NE(none.render().find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace genarm::eval
