// data-dump: writes one split as rnc's readers deliver it, for check_images.py to compare with Pillow.
//
//   data-dump DIR train|test C H W OUT [--format F] [--skip-bad-images]
//
// OUT.u8: the images, uint8 [N][H][W][C], after decoding, resizing, center
// cropping and conversion to C channels (what the loader normalizes).
// OUT.json: names, labels, classes, skipped, channels (found by the scan),
// mean and std (of the train split, per channel).
#include "runtime/data/DataError.h"
#include "runtime/data/Formats.h"
#include "runtime/data/Scan.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

using namespace rnc::data;

int main(int argc, char **argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: data-dump DIR train|test C H W OUT "
                         "[--format F] [--skip-bad-images]\n");
    return 2;
  }
  std::string dir = argv[1], out = argv[6];
  std::optional<Split> split = parseSplit(argv[2]);
  if (!split) {
    std::fprintf(stderr, "data-dump: split must be train or test\n");
    return 2;
  }
  int c = std::atoi(argv[3]), h = std::atoi(argv[4]), w = std::atoi(argv[5]);
  Format format = Format::Auto;
  BadData bad;
  for (int i = 7; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--format" && i + 1 < argc)
      format = *parseFormat(argv[++i]);
    else if (a == "--skip-bad-images")
      bad.skip = true;
  }
  try {
    std::vector<std::string> classes = classNamesOf(dir, format);
    auto set = openSplit(dir, format, *split, h, w, bad, &classes);
    ScanResult r = scan(*set, 3, !bad.skip);
    std::vector<std::string> skipped = bad.skipped;
    if (!r.bad.empty()) {
      if (!bad.skip)
        throw std::runtime_error(r.reasons[0]);
      std::vector<bool> keep(set->size(), true);
      for (size_t i : r.bad)
        keep[i] = false;
      set->retain(keep);
      skipped.insert(skipped.end(), r.reasons.begin(), r.reasons.end());
    }
    set->setChannels(c);
    std::ofstream px(out + ".u8", std::ios::binary);
    std::vector<uint8_t> buf(set->shape().values());
    nlohmann::json j;
    j["classes"] = set->classNames();
    j["channels"] = r.channels;
    j["mean"] = r.mean;
    j["std"] = r.std;
    j["skipped"] = skipped;
    for (size_t i = 0; i < set->size(); ++i) {
      set->load(i, buf.data());
      px.write(reinterpret_cast<const char *>(buf.data()),
               static_cast<std::streamsize>(buf.size()));
      j["names"].push_back(set->name(i));
      j["labels"].push_back(set->label(i));
    }
    std::ofstream(out + ".json") << j.dump() << "\n";
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
