// One GPU per rank of a machine (LocalGpu.h).
#include "LocalGpu.h"

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <vector>

namespace rnc::run {

std::string visibleDeviceFor(int localRank, const std::string &visible,
                             int machineGpus) {
  std::vector<std::string> choices;
  if (!visible.empty()) {
    std::stringstream in(visible);
    for (std::string entry; std::getline(in, entry, ',');)
      if (!entry.empty())
        choices.push_back(entry);
  } else {
    for (int i = 0; i < machineGpus; ++i)
      choices.push_back(std::to_string(i));
  }
  if (choices.empty() || localRank < 0)
    return "";
  return choices[static_cast<size_t>(localRank) % choices.size()];
}

int countMachineGpus(const std::string &gpusDir) {
  std::error_code ec;
  int n = 0;
  for (std::filesystem::directory_iterator it(gpusDir, ec), end;
       !ec && it != end; it.increment(ec))
    ++n;
  return n;
}

void pinLocalGpu() {
  auto number = [](const char *name) {
    const char *v = std::getenv(name);
    return v && *v ? std::atoi(v) : -1;
  };
  const int localRank = number("OMPI_COMM_WORLD_LOCAL_RANK");
  if (localRank < 0 || number("OMPI_COMM_WORLD_LOCAL_SIZE") < 2)
    return;
  const char *visible = std::getenv("CUDA_VISIBLE_DEVICES");
  const std::string mine = visibleDeviceFor(
      localRank, visible ? visible : "", visible ? 0 : countMachineGpus());
  if (!mine.empty())
    ::setenv("CUDA_VISIBLE_DEVICES", mine.c_str(), 1);
}

} // namespace rnc::run
