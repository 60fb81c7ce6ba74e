// LocalGpu: one GPU for each rank of a machine in a job of several (mpirun), chosen before anything initializes CUDA.
#pragma once

#include <string>

namespace rnc::run {

/// The CUDA_VISIBLE_DEVICES for the rank `localRank` of a machine: the
/// (localRank mod n)-th entry of `visible` (a comma-separated list the user
/// set) or, when `visible` is empty, of the machine's `machineGpus` GPUs
/// ("0", "1", ...). "" when there is nothing to choose from. Ranks beyond
/// the GPUs share them round-robin.
std::string visibleDeviceFor(int localRank, const std::string &visible,
                             int machineGpus);

/// The GPUs of this machine, counted without initializing CUDA (the
/// entries of `gpusDir`, the NVIDIA driver's /proc/driver/nvidia/gpus).
int countMachineGpus(const std::string &gpusDir = "/proc/driver/nvidia/gpus");

/// Under a launcher that starts several ranks on this machine
/// (OMPI_COMM_WORLD_LOCAL_RANK and _LOCAL_SIZE > 1), sets
/// CUDA_VISIBLE_DEVICES to this rank's GPU (visibleDeviceFor). Must run
/// before the first CUDA call of the process; does nothing otherwise.
void pinLocalGpu();

} // namespace rnc::run
