// One GPU per rank of a machine (tools/rnc-run/LocalGpu.h): which device
// each local rank is given, and the count of the machine's GPUs.
#include "tools/rnc-run/LocalGpu.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using rnc::run::countMachineGpus;
using rnc::run::visibleDeviceFor;

TEST(LocalGpu, RanksTakeTheMachinesGpusInTurn) {
  EXPECT_EQ(visibleDeviceFor(0, "", 8), "0");
  EXPECT_EQ(visibleDeviceFor(7, "", 8), "7");
  EXPECT_EQ(visibleDeviceFor(9, "", 8), "1"); // more ranks than GPUs: shared
  EXPECT_EQ(visibleDeviceFor(1, "", 1), "0"); // two ranks on one GPU
  EXPECT_EQ(visibleDeviceFor(0, "", 0), "");  // no GPU: nothing to choose
  EXPECT_EQ(visibleDeviceFor(-1, "", 4), "");
}

TEST(LocalGpu, ALimitTheUserSetIsKept) {
  EXPECT_EQ(visibleDeviceFor(0, "2,3", 8), "2");
  EXPECT_EQ(visibleDeviceFor(1, "2,3", 8), "3");
  EXPECT_EQ(visibleDeviceFor(2, "2,3", 8), "2");
  EXPECT_EQ(visibleDeviceFor(1, "GPU-5e1f,GPU-77aa", 0), "GPU-77aa");
  EXPECT_EQ(visibleDeviceFor(1, "4,,", 8), "4");
}

TEST(LocalGpu, CountsTheDriversEntries) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(::testing::TempDir()) / "rnc-gpus";
  fs::remove_all(dir);
  EXPECT_EQ(countMachineGpus(dir.string()), 0); // no driver
  fs::create_directories(dir / "0000:19:00.0");
  fs::create_directories(dir / "0000:3b:00.0");
  EXPECT_EQ(countMachineGpus(dir.string()), 2);
  fs::remove_all(dir);
}
