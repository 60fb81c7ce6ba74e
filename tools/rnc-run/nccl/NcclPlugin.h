/* NcclPlugin.h: the C interface of librnc-nccl.so, the plugin through which
 * rnc-run sums a cuda model's gradients over the ranks of an MPI job with
 * NCCL (tools/rnc-run/Comm.h loads it for a cuda model under mpirun). Only
 * the plugin links NCCL and the CUDA runtime; rnc-run and the model .so do
 * not.
 *
 * The ncclUniqueId travels over MPI: rank 0 makes it (unique_id), rnc-run
 * broadcasts its bytes, and every rank joins the communicator with them
 * (join), on the CUDA device current in the process (rnc-run pins one GPU
 * per rank of a machine through CUDA_VISIBLE_DEVICES). */
#ifndef RNC_TOOLS_RNC_RUN_NCCL_NCCLPLUGIN_H
#define RNC_TOOLS_RNC_RUN_NCCL_NCCLPLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RNC_NCCL_PLUGIN_VERSION 1
#define RNC_NCCL_ID_BYTES 128 /* NCCL_UNIQUE_ID_BYTES */

typedef struct rnc_nccl_api {
  int32_t version;      /* RNC_NCCL_PLUGIN_VERSION */
  int32_t nccl_version; /* of the libnccl loaded, e.g. 22803 for 2.28.3 */
  /* A new unique id into id[RNC_NCCL_ID_BYTES] (rank 0). 0 on success,
   * else a one-line reason in `error`. */
  int (*unique_id)(void *id, char *error, int32_t error_size);
  /* Joins the communicator of `world` ranks as `rank` (ncclCommInitRank;
   * every rank calls it with rank 0's id). 0 on success, else a one-line
   * reason in `error`. */
  int (*join)(int32_t rank, int32_t world, const void *id, char *error,
              int32_t error_size);
  /* rnc_collectives::allreduce_sum for device memory: enqueues an in-place
   * ncclAllReduce (sum, float) on `stream`, capturable into a CUDA graph.
   * `ctx` is unused; a null stream is refused. 0 on success; a failure
   * prints one line naming this rank and NCCL's reason. */
  int (*allreduce_sum)(void *ctx, float *data, int64_t count, void *stream);
  /* ncclCommAbort: frees a communicator whose peers may hang. */
  void (*abort)(void);
  /* ncclCommDestroy; the last call. */
  void (*finalize)(void);
} rnc_nccl_api;

/* Fills `api`. 0 on success, else non-zero with a one-line reason. */
int rnc_nccl_open(rnc_nccl_api *api, char *error, int32_t error_size);

#ifdef __cplusplus
}
#endif

#endif /* RNC_TOOLS_RNC_RUN_NCCL_NCCLPLUGIN_H */
