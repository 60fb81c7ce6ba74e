// librnc-nccl.so: the gradient sum of a cuda model over the ranks, with
// NCCL (NcclPlugin.h).
#include "NcclPlugin.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdio>
#include <cstring>
#include <string>

static_assert(NCCL_UNIQUE_ID_BYTES == RNC_NCCL_ID_BYTES,
              "RNC_NCCL_ID_BYTES must be NCCL's unique id size");
static_assert(sizeof(ncclUniqueId) == RNC_NCCL_ID_BYTES,
              "ncclUniqueId is NCCL_UNIQUE_ID_BYTES bytes");

namespace {

ncclComm_t g_comm = nullptr;
int32_t g_rank = 0, g_world = 1;

int failWith(char *error, int32_t size, const std::string &why) {
  if (error && size > 0)
    std::snprintf(error, static_cast<size_t>(size), "%s", why.c_str());
  return 1;
}

std::string ncclWhy(ncclResult_t r) {
  std::string why = ncclGetErrorString(r);
  if (const char *last = ncclGetLastError(g_comm); last && *last)
    why += std::string(": ") + last;
  return why;
}

int uniqueId(void *id, char *error, int32_t size) {
  ncclUniqueId u;
  if (ncclResult_t r = ncclGetUniqueId(&u); r != ncclSuccess)
    return failWith(error, size, "ncclGetUniqueId: " + ncclWhy(r));
  std::memcpy(id, &u, sizeof u);
  return 0;
}

int join(int32_t rank, int32_t world, const void *id, char *error,
         int32_t size) {
  if (g_comm)
    return failWith(error, size, "NCCL: already joined");
  int device = -1;
  if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess)
    return failWith(error, size,
                    std::string("no CUDA device for NCCL: ") +
                        cudaGetErrorString(e));
  ncclUniqueId u;
  std::memcpy(&u, id, sizeof u);
  if (ncclResult_t r = ncclCommInitRank(&g_comm, world, u, rank);
      r != ncclSuccess) {
    g_comm = nullptr;
    return failWith(error, size,
                    "ncclCommInitRank (rank " + std::to_string(rank) +
                        " of " + std::to_string(world) + ", CUDA device " +
                        std::to_string(device) + "): " + ncclWhy(r));
  }
  g_rank = rank;
  g_world = world;
  return 0;
}

int allreduceSum(void *, float *data, int64_t count, void *stream) {
  if (!g_comm || !stream || count < 0) {
    std::fprintf(stderr, "rnc-run: rank %d: NCCL sum called %s\n", g_rank,
                 !g_comm ? "before the communicator was joined"
                         : "without a CUDA stream or with a negative count");
    return 1;
  }
  ncclResult_t r =
      ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat, ncclSum,
                    g_comm, static_cast<cudaStream_t>(stream));
  if (r == ncclSuccess)
    return 0;
  std::fprintf(stderr, "rnc-run: rank %d of %d: ncclAllReduce of %lld floats "
               "failed: %s\n", g_rank, g_world, static_cast<long long>(count),
               ncclWhy(r).c_str());
  return 1;
}

void abortComm() {
  if (g_comm)
    ncclCommAbort(g_comm);
  g_comm = nullptr;
}

void finalize() {
  if (g_comm)
    ncclCommDestroy(g_comm);
  g_comm = nullptr;
}

} // namespace

extern "C" __attribute__((visibility("default"))) int
rnc_nccl_open(rnc_nccl_api *api, char *error, int32_t error_size) {
  if (!api)
    return failWith(error, error_size, "rnc_nccl_open: api is null");
  int version = 0;
  if (ncclResult_t r = ncclGetVersion(&version); r != ncclSuccess)
    return failWith(error, error_size,
                    std::string("ncclGetVersion: ") + ncclGetErrorString(r));
  std::memset(api, 0, sizeof *api);
  api->version = RNC_NCCL_PLUGIN_VERSION;
  api->nccl_version = version;
  api->unique_id = uniqueId;
  api->join = join;
  api->allreduce_sum = allreduceSum;
  api->abort = abortComm;
  api->finalize = finalize;
  return 0;
}
