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

TEST(SvgPlot, SinglePointAndEmptyPlotsRender) {
  SvgPlot one("one", "x", "y");
  one.add({"p", {1}, {1}, {}, false});
  EXPECT_NE(one.render().find("<circle"), std::string::npos);
  SvgPlot none("none", "x", "y");
  EXPECT_NE(none.render().find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace genarm::eval
