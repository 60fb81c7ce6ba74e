// Plot.cpp: draws the training plot (loss and accuracies per epoch) as an SVG file.
//
// Why SVG: it is text, written here by hand with the standard library alone; it
// opens in every browser and image viewer, stays crisp at any size, and needs
// no plotting library (matplotlib, gnuplot, cairo) at run time. The picture
// follows the training plot of "Dive into Deep Learning" (d2l.Animator): train
// loss, train acc and test acc as three lines on one grid-lined axes against
// the epoch, the legend inside the axes.
//
// Output is deterministic: coordinates are rounded to 2 decimals by snprintf,
// whose decimal point is the C locale's "." (rnc-run never calls setlocale).
#include "Plot.h"

#include "runtime/OutputFile.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <unistd.h>

namespace rnc::run {

namespace {

// The canvas, and the axes: the rectangle [kLeft, kRight] x [kTop, kBottom], in px.
constexpr double kWidth = 640, kHeight = 400;
constexpr double kLeft = 60, kRight = 620, kTop = 36, kBottom = 348;
// The legend box: size, and distance from the axes' frame.
constexpr double kLegendW = 112, kLegendH = 66, kLegendPad = 8;

struct Series {
  const char *label;
  const char *color;
  const char *dash; // stroke-dasharray, nullptr for solid
  double PlotPoint::*value;
};
// matplotlib's colors C0, C1, C2 and its '-', '--', '-.' dash patterns scaled
// to the 1.5 px line width, as D2L draws them.
constexpr Series kSeries[] = {
    {"train loss", "#1f77b4", nullptr, &PlotPoint::trainLoss},
    {"train acc", "#ff7f0e", "5.55,2.4", &PlotPoint::trainAcc},
    {"test acc", "#2ca02c", "9.6,2.4,1.5,2.4", &PlotPoint::testAcc},
};

/// `v` with `decimals` decimals, trailing zeros dropped: 12.50 -> "12.5", -0.00 -> "0".
std::string num(double v, int decimals = 2) {
  char buf[64];
  if (std::fabs(v) >= 1e15) // only tick labels of absurd losses get here
    std::snprintf(buf, sizeof buf, "%.3g", v);
  else
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos && s.find('e') == std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.')
      s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

/// `text` as XML character data or attribute value. Control characters, which
/// XML 1.0 forbids (and a one-line title has no use for), become spaces.
std::string escape(const std::string &text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&apos;"; break;
    default: out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
    }
  }
  return out;
}

/// A tick step: m * 10^k with m in {1, 2, 5}, printed with `decimals` decimals.
struct Step {
  double size;
  int decimals;
};

/// The smallest step m * 10^k (k >= minExp) that puts at most `maxTicks` ticks
/// on [lo, hi]; with `roundUp`, hi is first rounded up to a multiple of the step.
Step niceStep(double lo, double hi, int maxTicks, int minExp, bool roundUp) {
  for (int k = minExp;; ++k)
    for (int m : {1, 2, 5}) {
      double step = m * std::pow(10.0, k);
      // The 1e-9 keeps 1 / 0.2 from counting as a little more than 5.
      double last = roundUp ? std::ceil(hi / step - 1e-9) : std::floor(hi / step + 1e-9);
      if (last - std::ceil(lo / step - 1e-9) + 1 <= maxTicks)
        return {step, std::max(0, -k)};
    }
}

struct Pt {
  double x, y;
};

/// Where matplotlib's legend loc="best" would go, simplified: the first of a few
/// places inside the axes whose box covers the fewest points of the lines.
Pt legendCorner(const std::vector<std::vector<Pt>> &lines) {
  const Pt candidates[] = {
      {kRight - kLegendPad - kLegendW, kTop + kLegendPad},               // upper right
      {kLeft + kLegendPad, kTop + kLegendPad},                           // upper left
      {kLeft + kLegendPad, kBottom - kLegendPad - kLegendH},             // lower left
      {kRight - kLegendPad - kLegendW, kBottom - kLegendPad - kLegendH}, // lower right
      {kRight - kLegendPad - kLegendW, (kTop + kBottom - kLegendH) / 2}, // center right
  };
  Pt best = candidates[0];
  int bestCount = -1;
  for (const Pt &c : candidates) {
    int count = 0;
    // The box grown by a margin, so that markers on the frame beside it count.
    const double m = kLegendPad + 2;
    auto inside = [&](double x, double y) {
      count += x >= c.x - m && x <= c.x + kLegendW + m && y >= c.y - m && y <= c.y + kLegendH + m;
    };
    for (const auto &line : lines) // each a run of connected points
      for (size_t i = 0; i < line.size(); ++i) {
        inside(line[i].x, line[i].y);
        if (i > 0) // sample the segment, so a long one crossing the box counts too
          for (int s = 1; s < 16; ++s) {
            double t = s / 16.0;
            inside(line[i - 1].x + t * (line[i].x - line[i - 1].x),
                   line[i - 1].y + t * (line[i].y - line[i - 1].y));
          }
      }
    if (bestCount < 0 || count < bestCount) {
      best = c;
      bestCount = count;
    }
  }
  return best;
}


} // namespace

void writeTrainingPlot(const std::string &path, const std::vector<PlotPoint> &points,
                       const std::string &title) {
  std::vector<PlotPoint> pts = points;
  std::stable_sort(pts.begin(), pts.end(),
                   [](const PlotPoint &a, const PlotPoint &b) { return a.epoch < b.epoch; });

  // x: from epoch 1 (or the first epoch if lower) to the last epoch, as D2L's
  // xlim=[1, num_epochs]; a run that only finished epoch 1 gets [0, 1].
  double xlo = 0, xhi = 1;
  if (!pts.empty()) {
    xlo = std::min(1, pts.front().epoch);
    xhi = pts.back().epoch;
    if (xhi <= xlo)
      xlo = xhi - 1;
  }
  // y: from 0 to max(1, the largest value) rounded up to a tick. Values above
  // 1e30 (a diverged loss) are cut there, so that the arithmetic stays finite.
  constexpr double kCap = 1e30;
  double dataMax = 1;
  for (const PlotPoint &p : pts)
    for (const Series &s : kSeries)
      if (std::isfinite(p.*s.value))
        dataMax = std::max(dataMax, std::min(p.*s.value, kCap));
  const int yexp = static_cast<int>(std::floor(std::log10(dataMax))); // >= 0
  const Step ystep = niceStep(0, dataMax, 6, yexp - 1, true);
  const double yhi = std::ceil(dataMax / ystep.size - 1e-9) * ystep.size;
  const Step xstep = niceStep(xlo, xhi, 10, 0, false);

  auto px = [&](double x) { return kLeft + (x - xlo) / (xhi - xlo) * (kRight - kLeft); };
  // Negative values (not a loss or an accuracy) are drawn at 0.
  auto py = [&](double y) { return kBottom - std::clamp(y, 0.0, yhi) / yhi * (kBottom - kTop); };

  std::string svg;
  auto add = [&svg](std::initializer_list<std::string> parts) {
    for (const std::string &part : parts)
      svg += part;
  };
  add({"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", num(kWidth), "\" height=\"",
       num(kHeight), "\" viewBox=\"0 0 ", num(kWidth), " ", num(kHeight),
       "\" font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\" font-size=\"12\">\n",
       "<title>", escape(title), "</title>\n",
       "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"});

  // Grid lines, ticks and their labels.
  svg += "<g stroke=\"#b0b0b0\" stroke-width=\"0.8\" stroke-opacity=\"0.5\">\n";
  for (double t = std::ceil(xlo / xstep.size) * xstep.size; t <= xhi + 1e-9; t += xstep.size)
    add({"<line x1=\"", num(px(t)), "\" y1=\"", num(kTop), "\" x2=\"", num(px(t)), "\" y2=\"",
         num(kBottom), "\"/>\n"});
  for (int i = 1; i * ystep.size <= yhi + 1e-9; ++i)
    add({"<line x1=\"", num(kLeft), "\" y1=\"", num(py(i * ystep.size)), "\" x2=\"", num(kRight),
         "\" y2=\"", num(py(i * ystep.size)), "\"/>\n"});
  svg += "</g>\n<g stroke=\"black\" stroke-width=\"0.8\">\n";
  for (double t = std::ceil(xlo / xstep.size) * xstep.size; t <= xhi + 1e-9; t += xstep.size)
    add({"<line x1=\"", num(px(t)), "\" y1=\"", num(kBottom), "\" x2=\"", num(px(t)), "\" y2=\"",
         num(kBottom + 4), "\"/>\n"});
  for (int i = 0; i * ystep.size <= yhi + 1e-9; ++i)
    add({"<line x1=\"", num(kLeft - 4), "\" y1=\"", num(py(i * ystep.size)), "\" x2=\"",
         num(kLeft), "\" y2=\"", num(py(i * ystep.size)), "\"/>\n"});
  svg += "</g>\n<g fill=\"black\" text-anchor=\"middle\">\n";
  for (double t = std::ceil(xlo / xstep.size) * xstep.size; t <= xhi + 1e-9; t += xstep.size)
    add({"<text x=\"", num(px(t)), "\" y=\"", num(kBottom + 18), "\">", num(t, 0), "</text>\n"});
  svg += "</g>\n<g fill=\"black\" text-anchor=\"end\">\n";
  for (int i = 0; i * ystep.size <= yhi + 1e-9; ++i)
    add({"<text x=\"", num(kLeft - 7), "\" y=\"", num(py(i * ystep.size) + 4), "\">",
         num(i * ystep.size, ystep.decimals), "</text>\n"});
  svg += "</g>\n";
  // The frame (matplotlib's four spines), the axis title and the plot title.
  add({"<rect x=\"", num(kLeft), "\" y=\"", num(kTop), "\" width=\"", num(kRight - kLeft),
       "\" height=\"", num(kBottom - kTop),
       "\" fill=\"none\" stroke=\"black\" stroke-width=\"0.8\"/>\n",
       "<text x=\"", num((kLeft + kRight) / 2), "\" y=\"", num(kBottom + 38),
       "\" text-anchor=\"middle\">epoch</text>\n",
       "<text x=\"", num((kLeft + kRight) / 2), "\" y=\"", num(kTop - 12),
       "\" text-anchor=\"middle\" font-size=\"14\">", escape(title), "</text>\n"});

  // The series: one <path> each (always, empty when there is nothing to draw),
  // broken where a value is not finite, and a circle at each point so that a
  // lone point (a 1-epoch run, or one between gaps) shows as well.
  std::vector<std::vector<Pt>> lines; // for the legend's placement
  for (const Series &s : kSeries) {
    std::string d, markers;
    bool connected = false;
    for (const PlotPoint &p : pts) {
      double v = p.*s.value;
      if (!std::isfinite(v)) {
        connected = false;
        continue;
      }
      Pt q{px(p.epoch), py(std::min(v, kCap))};
      if (!connected)
        lines.emplace_back();
      lines.back().push_back(q);
      d += (d.empty() ? "M" : connected ? " L" : " M") + num(q.x) + "," + num(q.y);
      markers += "<circle cx=\"" + num(q.x) + "\" cy=\"" + num(q.y) + "\" r=\"2.5\"/>\n";
      connected = true;
    }
    add({"<g class=\"series\" fill=\"", s.color, "\">\n<path d=\"", d, "\" fill=\"none\" stroke=\"",
         s.color, "\" stroke-width=\"1.5\" stroke-linejoin=\"round\"",
         s.dash ? std::string(" stroke-dasharray=\"") + s.dash + "\"" : "", "/>\n", markers,
         "</g>\n"});
  }
  if (pts.empty())
    add({"<text x=\"", num((kLeft + kRight) / 2), "\" y=\"", num((kTop + kBottom) / 2),
         "\" text-anchor=\"middle\" fill=\"#555555\">no finished epoch</text>\n"});

  // The legend, as matplotlib draws it: a translucent white box with a sample
  // of each line and its label.
  const Pt at = legendCorner(lines);
  add({"<g class=\"legend\">\n<rect x=\"", num(at.x), "\" y=\"", num(at.y), "\" width=\"",
       num(kLegendW), "\" height=\"", num(kLegendH),
       "\" rx=\"2\" fill=\"white\" fill-opacity=\"0.8\" stroke=\"#cccccc\"/>\n"});
  for (size_t i = 0; i < std::size(kSeries); ++i) {
    const Series &s = kSeries[i];
    const double y = at.y + 14 + 19 * i;
    add({"<line x1=\"", num(at.x + 8), "\" y1=\"", num(y), "\" x2=\"", num(at.x + 36), "\" y2=\"",
         num(y), "\" stroke=\"", s.color, "\" stroke-width=\"1.5\"",
         s.dash ? std::string(" stroke-dasharray=\"") + s.dash + "\"" : "", "/>\n",
         "<circle cx=\"", num(at.x + 22), "\" cy=\"", num(y), "\" r=\"2.5\" fill=\"", s.color,
         "\"/>\n",
         "<text x=\"", num(at.x + 44), "\" y=\"", num(y + 4), "\">", s.label, "</text>\n"});
  }
  svg += "</g>\n</svg>\n";

  writeFileAtomically(path, "plot", [&](int fd) {
    return writeAll(fd, svg.data(), svg.size());
  });
}

std::string plotPathFor(const std::string &metricsPath) {
  const size_t slash = metricsPath.find_last_of('/');
  const size_t name = slash == std::string::npos ? 0 : slash + 1;
  const size_t dot = metricsPath.find_last_of('.');
  // An extension is a dot in the file name, not at its start (".hidden" has none).
  if (dot == std::string::npos || dot <= name)
    return metricsPath + ".svg";
  if (metricsPath.compare(dot, std::string::npos, ".svg") == 0)
    return metricsPath + ".svg"; // never the metrics file itself
  return metricsPath.substr(0, dot) + ".svg";
}

} // namespace rnc::run
