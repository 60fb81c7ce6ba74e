/* MpiPlugin.h: the C interface of librnc-mpi.so, the plugin through which
 * rnc-run takes part in an MPI job (tools/rnc-run/Comm.h dlopens it when it
 * runs under mpirun). Only the plugin links MPI: rnc-run itself, and the
 * static runtime-only build of it, start without MPI installed.
 *
 * Every function but rnc_mpi_open is reached through the table it fills.
 * Collectives block; each is watched: one that waits longer than the
 * timeout for the other ranks asks every rank where it is, prints one line
 * naming the ranks that never reached the collective, and ends the job
 * (MPI_Abort). */
#ifndef RNC_TOOLS_RNC_RUN_MPI_MPIPLUGIN_H
#define RNC_TOOLS_RNC_RUN_MPI_MPIPLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RNC_MPI_PLUGIN_VERSION 2

typedef struct rnc_mpi_api {
  int32_t version; /* RNC_MPI_PLUGIN_VERSION */
  int32_t rank, world;
  /* In place, over all ranks; 0 on success. The signature of
   * rnc_collectives::allreduce_sum (ctx and stream unused). */
  int (*sum_floats)(void *ctx, float *data, int64_t count, void *stream);
  int (*sum_doubles)(double *data, int64_t count);
  /* `bytes` bytes at `data` from rank `root` to every rank. */
  int (*broadcast)(void *data, int64_t bytes, int32_t root);
  /* Ends every process of the job with `code` (MPI_Abort). */
  void (*abort_job)(int32_t code);
  /* MPI_Finalize; the last call. */
  void (*finalize)(void);
  /* Wall seconds this rank has spent in sum_floats (the sums of a model's
   * steps: gradients, batch sizes, SyncBN statistics) so far. */
  double (*sum_seconds)(void);
} rnc_mpi_api;

/* Initializes MPI and fills `api`. `timeout_s` (> 0) bounds how long one
 * collective may wait for the other ranks. 0 on success, else non-zero with
 * a one-line reason in `error`. */
int rnc_mpi_open(rnc_mpi_api *api, double timeout_s, char *error,
                 int32_t error_size);

#ifdef __cplusplus
}
#endif

#endif /* RNC_TOOLS_RNC_RUN_MPI_MPIPLUGIN_H */
