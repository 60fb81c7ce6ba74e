// Tests of the data set readers on generated files: CIFAR batches, image folder trees, format detection, bad data.
#include "runtime/data/DataError.h"
#include "runtime/data/Decode.h"
#include "runtime/data/Formats.h"
#include "runtime/data/Scan.h"

#include "IdxFiles.h"

#include <png.h>

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace rnc::data {
namespace {

namespace fs = std::filesystem;
using test::Bytes;
using test::TempDir;

// One CIFAR record: label byte(s), then the R, G, B planes of 32x32, where
// pixel (y, x) of plane c is (seed + 3 y + 5 x + 50 c) % 256.
Bytes cifarRecord(std::vector<uint8_t> labels, int seed) {
  Bytes r = labels;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x)
        r.push_back(static_cast<uint8_t>((seed + 3 * y + 5 * x + 50 * c) % 256));
  return r;
}

Bytes cat(std::vector<Bytes> parts) {
  Bytes out;
  for (const Bytes &p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A CIFAR-10 folder: 5 train batches of `perBatch` records, a test batch.
void writeCifar10(const TempDir &dir, int perBatch) {
  for (int b = 1; b <= 5; ++b) {
    std::vector<Bytes> recs;
    for (int i = 0; i < perBatch; ++i)
      recs.push_back(cifarRecord({static_cast<uint8_t>((b + i) % 10)}, b * 100 + i));
    dir.write("data_batch_" + std::to_string(b) + ".bin", cat(recs));
  }
  dir.write("test_batch.bin", cat({cifarRecord({3}, 7), cifarRecord({9}, 8)}));
}

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const DataError &e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Cifar, LabelsAndPixelsOfEveryBatch) {
  TempDir dir;
  writeCifar10(dir, 3);
  BadData bad;
  auto train = openSplit(dir.path().string(), Format::Auto, Split::Train, 32,
                         32, bad);
  ASSERT_EQ(train->size(), 15u);
  EXPECT_EQ(train->formatName(), "CIFAR-10");
  EXPECT_EQ(train->shape(), (Shape{3, 32, 32}));
  EXPECT_EQ(train->classNames()[3], "cat");
  for (size_t i = 0; i < 15; ++i) {
    int b = static_cast<int>(i / 3) + 1, r = static_cast<int>(i % 3);
    EXPECT_EQ(train->label(i), (b + r) % 10);
    Image img = train->loadNative(i);
    ASSERT_EQ(img.channels, 3);
    for (int y : {0, 17, 31})
      for (int x : {0, 9, 31})
        for (int c = 0; c < 3; ++c)
          ASSERT_EQ(img.pixels[(y * 32 + x) * 3 + c],
                    (b * 100 + r + 3 * y + 5 * x + 50 * c) % 256)
              << i << " " << y << " " << x << " " << c;
  }
  EXPECT_EQ(train->name(4),
            (dir.path() / "data_batch_2.bin").string() + " record 1");
  auto test = openSplit(dir.path().string(), Format::Cifar10, Split::Test, 16,
                        16, bad);
  ASSERT_EQ(test->size(), 2u);
  EXPECT_EQ(test->label(1), 9);
  EXPECT_EQ(test->loadNative(0).height, 16) << "resized to the model's input";
}

TEST(Cifar, Cifar100UsesTheFineLabelAndItsNames) {
  TempDir dir;
  fs::create_directory(dir.path() / "cifar-100-binary");
  std::string sub = (dir.path() / "cifar-100-binary").string();
  auto write = [&](const std::string &name, const Bytes &b) {
    std::ofstream(sub + "/" + name, std::ios::binary)
        .write(reinterpret_cast<const char *>(b.data()),
               static_cast<std::streamsize>(b.size()));
  };
  write("train.bin", cat({cifarRecord({4, 77}, 1), cifarRecord({19, 99}, 2)}));
  write("test.bin", cifarRecord({0, 0}, 3));
  std::string names;
  for (int c = 0; c < 100; ++c)
    names += "fine" + std::to_string(c) + "\n";
  write("fine_label_names.txt", Bytes(names.begin(), names.end()));
  EXPECT_EQ(detectFormat(dir.path().string()), Format::Cifar100);
  BadData bad;
  auto train = openSplit(dir.path().string(), Format::Auto, Split::Train, 32,
                         32, bad);
  ASSERT_EQ(train->size(), 2u);
  EXPECT_EQ(train->label(0), 77);
  EXPECT_EQ(train->label(1), 99);
  EXPECT_EQ(train->classNames().size(), 100u);
  EXPECT_EQ(train->classNames()[77], "fine77");
}

TEST(Cifar, TruncatedFileAndBadLabels) {
  TempDir dir;
  writeCifar10(dir, 2);
  Bytes cut = cat({cifarRecord({1}, 0), cifarRecord({12}, 0), cifarRecord({2}, 0)});
  cut.resize(cut.size() - 1000);
  std::string path = dir.write("data_batch_3.bin", cut);
  BadData strict;
  EXPECT_EQ(errorOf([&] {
              openSplit(dir.path().string(), Format::Cifar10, Split::Train, 32,
                        32, strict);
            }),
            path + ": truncated: 8219 bytes is not a whole number of "
                   "3073-byte records (record 2 is cut short after 2073 "
                   "bytes)");
  BadData skip;
  skip.skip = true;
  auto train = openSplit(dir.path().string(), Format::Cifar10, Split::Train,
                         32, 32, skip);
  // 4 x 2 good records, and record 0 of batch 3; record 1 has label 12.
  EXPECT_EQ(train->size(), 9u);
  ASSERT_EQ(skip.skipped.size(), 2u);
  EXPECT_EQ(skip.skipped[0],
            path + ": truncated: 8219 bytes is not a whole number of "
                   "3073-byte records (record 2 is cut short after 2073 "
                   "bytes)");
  EXPECT_EQ(skip.skipped[1],
            path + ": record 1: label 12 is out of range [0, 9]");
  dir.write("data_batch_3.bin", cifarRecord({1}, 0));
  std::string empty = dir.write("data_batch_5.bin", {});
  BadData strict2;
  EXPECT_EQ(errorOf([&] {
              openSplit(dir.path().string(), Format::Cifar10, Split::Train, 32,
                        32, strict2);
            }),
            empty + ": empty file (no CIFAR-10 records)");
  fs::remove(dir.path() / "data_batch_4.bin");
  BadData skip2;
  skip2.skip = true;
  EXPECT_EQ(errorOf([&] {
              openSplit(dir.path().string(), Format::Cifar10, Split::Train, 32,
                        32, skip2);
            }),
            (dir.path() / "data_batch_4.bin").string() +
                ": cannot open: No such file or directory (the CIFAR-10 files "
                "of this split)");
}

// ---- image folders ----

void writePng(const fs::path &path, int h, int w, int channels, int seed) {
  fs::create_directories(path.parent_path());
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  std::vector<uint8_t> px(static_cast<size_t>(h) * w * channels);
  for (size_t i = 0; i < px.size(); ++i)
    px[i] = static_cast<uint8_t>(seed * 17 + i * 3);
  if (!png_image_write_to_file(&img, path.c_str(), 0, px.data(), 0, nullptr))
    throw std::runtime_error("cannot write " + path.string());
}

TEST(Folder, ClassesLabelsOrderAndSubfolders) {
  TempDir dir;
  fs::path t = dir.path() / "train";
  writePng(t / "dog" / "b.png", 8, 8, 1, 1);
  writePng(t / "dog" / "a.png", 8, 8, 1, 2);
  writePng(t / "cat" / "z.png", 8, 8, 3, 3);
  writePng(t / "cat" / "sub" / "y.png", 8, 8, 1, 4);
  writePng(t / "cat" / "m.png", 8, 8, 1, 5);
  writePng(t / "ant" / "q.png", 8, 8, 1, 6);
  writePng(t / ".hidden" / "h.png", 8, 8, 1, 7);
  std::ofstream(t / "cat" / ".DS_Store") << "x";
  std::ofstream(t / "README.txt") << "files directly in train/ are ignored";
  writePng(dir.path() / "val" / "cat" / "v.png", 8, 8, 1, 8);
  EXPECT_EQ(detectFormat(dir.path().string()), Format::Folder);
  BadData bad;
  auto train = openSplit(dir.path().string(), Format::Auto, Split::Train, 4, 4,
                         bad);
  EXPECT_EQ(train->classNames(), (std::vector<std::string>{"ant", "cat", "dog"}));
  // Within a class: (folder, name) order, as sorted(os.walk); across
  // classes interleaved: ant, cat, dog, then the second of cat and dog...
  std::vector<std::string> names;
  std::vector<int32_t> labels;
  for (size_t i = 0; i < train->size(); ++i) {
    names.push_back(fs::path(train->name(i)).lexically_relative(t).string());
    labels.push_back(train->label(i));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"ant/q.png", "cat/m.png", "dog/a.png",
                                             "cat/z.png", "dog/b.png",
                                             "cat/sub/y.png"}));
  EXPECT_EQ(labels, (std::vector<int32_t>{0, 1, 2, 1, 2, 1}));
  EXPECT_TRUE(bad.skipped.empty());
  // The test split maps its folders to the train classes by name.
  auto val = openSplit(dir.path().string(), Format::Folder, Split::Test, 4, 4,
                       bad);
  ASSERT_EQ(val->size(), 1u);
  EXPECT_EQ(val->label(0), 1);
  EXPECT_EQ(val->classNames(), train->classNames());
  // A scan finds the RGB image: the set is RGB, gray images join it.
  ScanResult r = scan(*train, 2, true);
  EXPECT_EQ(r.channels, 3);
  EXPECT_EQ(r.images, 6u);
}

TEST(Folder, TestClassUnknownToTrain) {
  TempDir dir;
  writePng(dir.path() / "train" / "cat" / "a.png", 4, 4, 1, 1);
  writePng(dir.path() / "test" / "zebra" / "a.png", 4, 4, 1, 1);
  BadData bad;
  EXPECT_EQ(errorOf([&] {
              openSplit(dir.path().string(), Format::Folder, Split::Test, 4, 4,
                        bad);
            }),
            (dir.path() / "test" / "zebra").string() +
                ": class 'zebra' is not one of the 1 classes of " +
                (dir.path() / "train").string());
  fs::remove_all(dir.path() / "test");
  EXPECT_EQ(errorOf([&] {
              openSplit(dir.path().string(), Format::Folder, Split::Test, 4, 4,
                        bad);
            }),
            dir.path().string() + ": no val/ or test/ folder for the test split");
}

TEST(Folder, EmptyAndUnreadableClassFolders) {
  TempDir dir;
  fs::path t = dir.path() / "train";
  writePng(t / "a" / "1.png", 4, 4, 1, 1);
  fs::create_directories(t / "b" / "nested");
  std::ofstream(t / "b" / ".only-hidden") << "x";
  fs::create_symlink("loop", t / "loop"); // a class folder that cannot be read
  BadData strict;
  EXPECT_EQ(errorOf([&] {
              openSplit(dir.path().string(), Format::Folder, Split::Train, 4,
                        4, strict);
            }),
            (t / "loop").string() +
                ": cannot read: Too many levels of symbolic links");
  fs::remove(t / "loop");
  EXPECT_EQ(errorOf([&] {
              openSplit(dir.path().string(), Format::Folder, Split::Train, 4,
                        4, strict);
            }),
            (t / "b").string() + ": empty class folder: no images");
  BadData skip;
  skip.skip = true;
  auto train = openSplit(dir.path().string(), Format::Folder, Split::Train, 4,
                         4, skip);
  EXPECT_EQ(train->size(), 1u);
  EXPECT_EQ(train->classNames(), (std::vector<std::string>{"a", "b"}))
      << "an empty class keeps its label";
  EXPECT_EQ(skip.skipped, (std::vector<std::string>{
                              (t / "b").string() + ": empty class folder: no images"}));
  if (::geteuid() != 0) { // root reads folders whatever their mode
    fs::create_directories(t / "c");
    writePng(t / "c" / "1.png", 4, 4, 1, 1);
    ::chmod((t / "c").c_str(), 0);
    BadData s2;
    s2.skip = true;
    openSplit(dir.path().string(), Format::Folder, Split::Train, 4, 4, s2);
    ::chmod((t / "c").c_str(), 0755);
    EXPECT_EQ(s2.skipped.back(),
              (t / "c").string() + ": cannot read folder: Permission denied");
  }
}

// Every kind of bad file, found by a scan: the message names the file.
TEST(Folder, BadFilesFoundByTheScan) {
  TempDir dir;
  fs::path t = dir.path() / "train" / "k";
  writePng(t / "0-good.png", 6, 6, 1, 1);
  std::ofstream(t / "1-text.png") << "hello, not an image\n";
  std::ofstream(t / "2-empty.jpg");
  std::vector<uint8_t> png;
  {
    writePng(dir.path() / "full.png", 16, 16, 3, 2);
    png = readFileBytes((dir.path() / "full.png").string());
  }
  std::ofstream(t / "3-truncated.png", std::ios::binary)
      .write(reinterpret_cast<const char *>(png.data()), 40);
  fs::create_symlink(t / "nowhere", t / "4-dangling.png");
  Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0};
  std::ofstream(t / "5-animation.gif", std::ios::binary)
      .write(reinterpret_cast<const char *>(gif.data()), 10);
  writePng(t / "6-good.png", 6, 6, 1, 3);

  BadData bad;
  bad.skip = true;
  auto train = openSplit(dir.path().string(), Format::Folder, Split::Train, 6,
                         6, bad);
  EXPECT_EQ(bad.skipped, (std::vector<std::string>{
                             (t / "4-dangling.png").string() +
                             ": cannot read: No such file or directory"}));
  ASSERT_EQ(train->size(), 6u);
  ScanResult r = scan(*train, 3, false);
  EXPECT_EQ(r.images, 2u);
  EXPECT_EQ(r.bad, (std::vector<size_t>{1, 2, 3, 4}));
  EXPECT_EQ(r.reasons,
            (std::vector<std::string>{
                (t / "1-text.png").string() +
                    ": not a JPEG or PNG image: it starts with bytes 68 65 6c "
                    "6c (text?)",
                (t / "2-empty.jpg").string() + ": empty file",
                (t / "3-truncated.png").string() +
                    ": corrupt PNG: the file ends early (truncated)",
                (t / "5-animation.gif").string() +
                    ": not a JPEG or PNG image: it starts with bytes 47 49 46 "
                    "38 (a GIF)"}));
  ScanResult first = scan(*train, 3, true);
  EXPECT_EQ(first.bad, (std::vector<size_t>{1}));
  std::vector<bool> keep(6, true);
  for (size_t i : r.bad)
    keep[i] = false;
  train->retain(keep);
  EXPECT_EQ(train->size(), 2u);
  EXPECT_EQ(fs::path(train->name(1)).filename(), "6-good.png");
}

TEST(Detect, EachFormatAndNone) {
  TempDir dir;
  EXPECT_EQ(errorOf([&] { detectFormat(dir.path().string()); }),
            dir.path().string() +
                ": no data set found: expected IDX files "
                "(train-images-idx3-ubyte.gz), CIFAR-10 (data_batch_1.bin), "
                "CIFAR-100 (train.bin) or an image folder tree "
                "(train/<class>/<image>)");
  EXPECT_EQ(errorOf([&] { detectFormat((dir.path() / "nope").string()); }),
            (dir.path() / "nope").string() + ": no such folder");
  std::string file = dir.write("f", {1});
  EXPECT_EQ(errorOf([&] { detectFormat(file); }),
            file + ": not a folder (--data names the folder of a data set)");
  fs::create_directories(dir.path() / "cifar-10-batches-bin");
  std::ofstream(dir.path() / "cifar-10-batches-bin" / "data_batch_1.bin") << "";
  EXPECT_EQ(detectFormat(dir.path().string()), Format::Cifar10);
  EXPECT_EQ(formatRoot(dir.path().string(), Format::Cifar10),
            (dir.path() / "cifar-10-batches-bin").string());
  EXPECT_EQ(detectFormat(FashionMnist::kDebianDir), Format::Idx);
  EXPECT_EQ(parseFormat("cifar100"), Format::Cifar100);
  EXPECT_EQ(parseFormat("jpeg"), std::nullopt);
}

TEST(Idx, ClassNamesFollowTheFolder) {
  EXPECT_EQ(classNamesOf(FashionMnist::kDebianDir, Format::Idx)[9],
            "Ankle boot");
  TempDir dir; // not "fashion" in its name: MNIST digits
  EXPECT_EQ(idxClassNames(dir.path().string())[3], "3");
  std::string names;
  for (int c = 0; c < 10; ++c)
    names += "n" + std::to_string(c) + "\n";
  dir.write("classes.txt", Bytes(names.begin(), names.end()));
  EXPECT_EQ(idxClassNames(dir.path().string())[3], "n3");
}

} // namespace
} // namespace rnc::data
