// PlotTest.cpp: tests of the training plot (tools/rnc-run/Plot.h): the SVG's shape, escaping,
// gaps for non-finite values, the atomic write and its errors, and plotPathFor.
#include "tools/rnc-run/Plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace fs = std::filesystem;
using rnc::run::PlotPoint;
using rnc::run::plotPathFor;
using rnc::run::writeTrainingPlot;

namespace {

/// A fresh, empty folder for one test, removed afterwards.
class PlotTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rnc-plot-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// Writes the plot of `points` to a file in the folder and returns its text.
  std::string plot(const std::vector<PlotPoint> &points, const std::string &title = "run") {
    const std::string path = (dir_ / "plot.svg").string();
    writeTrainingPlot(path, points, title);
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  fs::path dir_;
};

const std::vector<PlotPoint> kFourEpochs = {
    {1, 0.85, 0.69, 0.78}, {2, 0.45, 0.83, 0.84}, {3, 0.36, 0.87, 0.86}, {4, 0.31, 0.89, 0.88}};

size_t count(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

/// The `d` attributes of the <path> elements, in order.
std::vector<std::string> pathData(const std::string &svg) {
  std::vector<std::string> out;
  for (size_t at = svg.find("<path"); at != std::string::npos; at = svg.find("<path", at + 1)) {
    size_t d = svg.find(" d=\"", at) + 4;
    out.push_back(svg.substr(d, svg.find('"', d) - d));
  }
  return out;
}

/// The points of a path's data "M x,y L x,y M x,y ...".
std::vector<std::pair<double, double>> vertices(const std::string &d) {
  std::vector<std::pair<double, double>> out;
  std::istringstream in(d);
  std::string word;
  while (in >> word) {
    size_t comma = word.find(',');
    out.emplace_back(std::stod(word.substr(1, comma - 1)), std::stod(word.substr(comma + 1)));
  }
  return out;
}

TEST_F(PlotTest, WellFormedWithOneLinePerSeries) {
  const std::string svg = plot(kFourEpochs);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  ASSERT_GE(svg.size(), 7u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_EQ(count(svg, "<svg"), 1u);
  EXPECT_EQ(count(svg, "</svg>"), 1u);
  // One path per series, in its color; the legend's samples are <line>s.
  ASSERT_EQ(count(svg, "<path"), 3u);
  for (const std::string color : {"#1f77b4", "#ff7f0e", "#2ca02c"})
    EXPECT_EQ(count(svg, "stroke=\"" + color + "\" stroke-width=\"1.5\" stroke-linejoin"), 1u)
        << color;
  for (const std::string &d : pathData(svg))
    EXPECT_EQ(vertices(d).size(), 4u) << d;
  // Dashed and dash-dot lines for the accuracies.
  EXPECT_EQ(count(svg, "stroke-dasharray"), 4u); // two lines, two legend samples
  // A marker per point and per legend entry.
  EXPECT_EQ(count(svg, "<circle"), 3u * 4 + 3);
  EXPECT_NE(svg.find(">epoch</text>"), std::string::npos);
}

TEST_F(PlotTest, LegendNamesAndTitle) {
  const std::string svg = plot(kFourEpochs, "fashion_resnet, 4 epochs");
  for (const char *name : {">train loss<", ">train acc<", ">test acc<"})
    EXPECT_EQ(count(svg, name), 1u) << name;
  EXPECT_EQ(count(svg, ">fashion_resnet, 4 epochs<"), 2u); // <title> and the shown title
}

TEST_F(PlotTest, CoordinatesInsideAndLinesPointTheRightWay) {
  const std::string svg = plot(kFourEpochs);
  const auto paths = pathData(svg);
  ASSERT_EQ(paths.size(), 3u);
  for (const std::string &d : paths)
    for (auto [x, y] : vertices(d)) {
      EXPECT_GE(x, 0);
      EXPECT_LE(x, 640);
      EXPECT_GE(y, 0);
      EXPECT_LE(y, 400);
    }
  // Epochs go right; the falling loss goes down the picture (SVG's y grows
  // downwards), the rising accuracies go up.
  for (size_t s = 0; s < 3; ++s) {
    auto v = vertices(paths[s]);
    for (size_t i = 1; i < v.size(); ++i) {
      EXPECT_GT(v[i].first, v[i - 1].first);
      if (s == 0)
        EXPECT_GT(v[i].second, v[i - 1].second) << paths[s];
      else
        EXPECT_LT(v[i].second, v[i - 1].second) << paths[s];
    }
  }
  // y ticks from 0 to 1 by 0.2 for values below 1.
  for (const char *tick : {">0<", ">0.2<", ">0.4<", ">0.6<", ">0.8<", ">1<"})
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  EXPECT_EQ(svg.find(">1.2<"), std::string::npos);
}

TEST_F(PlotTest, YAxisGrowsWithTheLoss) {
  const std::string svg = plot({{1, 2.3, 0.1, 0.1}, {2, 1.2, 0.5, 0.5}});
  for (const char *tick : {">0<", ">0.5<", ">1<", ">1.5<", ">2<", ">2.5<"})
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
}

TEST_F(PlotTest, AtMostTenEpochLabels) {
  std::vector<PlotPoint> points;
  for (int e = 1; e <= 90; ++e)
    points.push_back({e, 1.0 / e, 0.5, 0.5});
  const std::string svg = plot(points);
  // x labels are centered, y labels end-anchored; count the centered group's texts.
  const size_t begin = svg.find("<g fill=\"black\" text-anchor=\"middle\">");
  const size_t end = svg.find("</g>", begin);
  ASSERT_NE(begin, std::string::npos);
  const size_t labels = count(svg.substr(begin, end - begin), "<text");
  EXPECT_GE(labels, 4u);
  EXPECT_LE(labels, 10u);
}

TEST_F(PlotTest, TitleIsEscaped) {
  const std::string svg = plot(kFourEpochs, "a <&> \"b\" 'c'\n");
  EXPECT_NE(svg.find("a &lt;&amp;&gt; &quot;b&quot; &apos;c&apos; "), std::string::npos);
  EXPECT_EQ(svg.find("<&>"), std::string::npos);
}

TEST_F(PlotTest, NonFiniteValuesLeaveAGap) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::string svg =
      plot({{1, 2.0, 0.3, 0.4}, {2, nan, 0.5, inf}, {3, 1.0, 0.6, 0.6}, {4, 0.8, -inf, 0.7}});
  for (const char *bad : {"nan", "NaN", "NAN", "inf", "Inf", "INF"})
    EXPECT_EQ(svg.find(bad), std::string::npos) << bad;
  const auto paths = pathData(svg);
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(count(paths[0], "M"), 2u) << paths[0]; // 1 | 3-4
  EXPECT_EQ(vertices(paths[0]).size(), 3u);
  EXPECT_EQ(count(paths[1], "M"), 1u) << paths[1]; // 1-2-3, 4 dropped at the end
  EXPECT_EQ(vertices(paths[1]).size(), 3u);
  EXPECT_EQ(count(paths[2], "M"), 2u) << paths[2]; // 1 | 3-4
  EXPECT_EQ(count(svg, "<circle"), 9u + 3);
}

TEST_F(PlotTest, OneEpochShowsMarkers) {
  const std::string svg = plot({{1, 0.9, 0.7, 0.75}});
  EXPECT_EQ(count(svg, "<path"), 3u);
  EXPECT_EQ(count(svg, "<circle"), 3u + 3);
}

TEST_F(PlotTest, EmptyHistory) {
  const std::string svg = plot({});
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_NE(svg.find("no finished epoch"), std::string::npos);
  EXPECT_EQ(count(svg, "<path"), 3u);
  for (const std::string &d : pathData(svg))
    EXPECT_EQ(d, "");
}

TEST_F(PlotTest, Deterministic) {
  EXPECT_EQ(plot(kFourEpochs, "t"), plot(kFourEpochs, "t"));
}

TEST_F(PlotTest, NoTemporaryFileLeft) {
  plot(kFourEpochs);
  plot(kFourEpochs); // replacing an existing plot too
  std::vector<std::string> names;
  for (const auto &entry : fs::directory_iterator(dir_))
    names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"plot.svg"});
}

TEST_F(PlotTest, UnwritablePathThrowsNamingIt) {
  const std::string path = (dir_ / "missing" / "plot.svg").string();
  try {
    writeTrainingPlot(path, kFourEpochs, "t");
    FAIL() << "no exception";
  } catch (const std::runtime_error &e) {
    EXPECT_EQ(std::string(e.what()), path + ": cannot write plot: No such file or directory");
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(PlotTest, RenameFailureLeavesNoTemporaryFile) {
  // The target is a folder: the temporary file is written, the rename fails.
  const fs::path target = dir_ / "plot.svg";
  fs::create_directory(target);
  EXPECT_THROW(writeTrainingPlot(target.string(), kFourEpochs, "t"), std::runtime_error);
  std::vector<std::string> names;
  for (const auto &entry : fs::directory_iterator(dir_))
    names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"plot.svg"});
}

TEST(PlotPathFor, ReplacesOrAppendsTheExtension) {
  EXPECT_EQ(plotPathFor("a/b/run.jsonl"), "a/b/run.svg");
  EXPECT_EQ(plotPathFor("metrics"), "metrics.svg");
  EXPECT_EQ(plotPathFor("dir.v2/m"), "dir.v2/m.svg");
  EXPECT_EQ(plotPathFor("run.v2.jsonl"), "run.v2.svg");
  EXPECT_EQ(plotPathFor("/tmp/.metrics"), "/tmp/.metrics.svg");
  EXPECT_EQ(plotPathFor("m.svg"), "m.svg.svg"); // never the metrics file itself
}

} // namespace
