// Comm: the processes of a data-parallel `rnc-run train`: one process, or an MPI job (mpirun) through the plugin librnc-mpi.so.
#pragma once

#include "runtime/rnc_abi.h"

#include <cstddef>
#include <stdexcept>
#include <string>

namespace rnc::run {

/// An error every rank of a job meets at the same point (a flag, a batch
/// not divisible by the ranks, ranks that disagree): rank 0 prints it, the
/// other ranks exit quietly, and every rank ends with status 1.
class JobError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The job this process belongs to.
///
/// Under mpirun (OMPI_COMM_WORLD_SIZE or PMI_SIZE set) it loads
/// <bin>/../lib/rnc/librnc-mpi.so (or $RNC_MPI_PLUGIN) and joins the MPI
/// world; otherwise it is one process and every collective is the identity.
/// Collectives block; one that waits longer than $RNC_COLLECTIVE_TIMEOUT
/// seconds (default 600) for the other ranks ends the job with a line naming
/// the ranks that never reached it (tools/rnc-run/mpi/MpiPlugin.cpp).
class Comm {
public:
  /// The job, joined on the first call. Throws std::runtime_error (one
  /// line) when mpirun started this process but MPI cannot be joined.
  static Comm &job();

  int rank() const { return rank_; }
  int world() const { return world_; }
  bool root() const { return rank_ == 0; }
  bool distributed() const { return world_ > 1; }
  /// "rank 1 of 4: " in a job of several processes, else "".
  std::string prefix() const;

  /// In place over all ranks. Throw std::runtime_error on failure.
  void sum(double *data, size_t count);
  void sum(float *data, size_t count);
  /// `bytes` at `data` from rank 0 to every rank.
  void broadcast(void *data, size_t bytes);
  /// The collectives a model's steps call (rnc_abi.h). A cpu model's sums
  /// go over MPI. For a cuda model (`gpu`) the sums of device memory go
  /// over NCCL (<bin>/../lib/rnc/librnc-nccl.so or $RNC_NCCL_PLUGIN, joined
  /// here on the first call: rank 0's ncclUniqueId broadcast over MPI), the
  /// host ones over MPI. Throws JobError when a rank cannot use NCCL.
  rnc_collectives collectives(bool syncBn, bool gpu);
  /// After a cuda step timed out on this rank (`why`, one line, printed
  /// here): every rank whose step timed out meets in one more sum; one that
  /// never comes (hung) is named by the MPI plugin, which ends the job.
  /// Throws JobError when all ranks come (the hang is on the device).
  [[noreturn]] void checkAfterTimedOutStep(const std::string &why);
  /// Wall seconds this rank has waited in the sums of the model's steps
  /// over MPI (0 in one process; the NCCL sums run inside the graph).
  double stepSumSeconds() const;
  /// "NCCL 2.28.3" once joined, else "".
  std::string ncclText() const;
  /// Checks that every rank has rank 0's `mine` (`what`: "the model .so",
  /// "the flags"). A rank that differs prints one line saying how; then
  /// every rank throws JobError.
  void agree(const std::string &what, const std::string &mine);

  /// Ends every process of the job at once (after an error on one rank).
  [[noreturn]] void abortJob(int code);
  /// The last call of a process that joined MPI.
  void finalize();

private:
  Comm() = default;
  void join();
  void joinNccl();
  /// Every rank passes its own `why` ("" when it succeeded); a rank that
  /// failed prints it; if any did, every rank throws JobError(`what`).
  void allOrNone(const std::string &why, const std::string &what);
  static int gpuSum(void *ctx, float *data, int64_t count, void *stream);

  int rank_ = 0, world_ = 1;
  const void *api_ = nullptr;  // rnc_mpi_api of the plugin, or null
  const void *nccl_ = nullptr; // rnc_nccl_api once joined, or null
  bool finalized_ = false;
};

} // namespace rnc::run
