// librnc-mpi.so: rnc-run's communicator over MPI (MpiPlugin.h), with a
// watchdog that ends a job whose collective waits too long for a rank.
#include "MpiPlugin.h"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <unistd.h>

namespace {

int32_t g_rank = 0, g_world = 1;
double g_timeout = 600;
// When the collective in progress started (steady ns), 0 outside one.
std::atomic<int64_t> g_since{0};
std::atomic<uint64_t> g_calls{0};
std::atomic<const char *> g_what{""};
std::atomic<bool> g_stop{false};

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Marks a collective in progress for the watchdog.
struct Watched {
  explicit Watched(const char *what) {
    g_what = what;
    ++g_calls;
    g_since = nowNs();
  }
  ~Watched() { g_since = 0; }
};

// A collective that waits longer than the timeout means another rank died
// without mpirun noticing, or hangs: one line naming this rank, then the
// process ends, and mpirun ends the rest of the job. No MPI call here (the
// main thread is inside one).
void watchdog() {
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    int64_t since = g_since;
    if (since == 0 || (nowNs() - since) / 1e9 <= g_timeout)
      continue;
    std::fprintf(stderr,
                 "rnc-run: rank %d of %d: waited %.0f s for the other ranks "
                 "in %s (collective #%llu); a rank has died or hung, ending "
                 "the job (RNC_COLLECTIVE_TIMEOUT sets the limit)\n",
                 g_rank, g_world, g_timeout, g_what.load(),
                 static_cast<unsigned long long>(g_calls.load()));
    std::fflush(stderr);
    ::_exit(124);
  }
}

// Sums `count` values in place over all ranks, in pieces an int can count.
template <class T>
int sumInPlace(T *data, int64_t count, MPI_Datatype type, const char *what) {
  Watched w(what);
  for (int64_t at = 0; at < count;) {
    int n = static_cast<int>(std::min<int64_t>(count - at, INT_MAX / 2));
    if (MPI_Allreduce(MPI_IN_PLACE, data + at, n, type, MPI_SUM,
                      MPI_COMM_WORLD) != MPI_SUCCESS)
      return 1;
    at += n;
  }
  return 0;
}

int sumFloats(void *, float *data, int64_t count, void *) {
  return sumInPlace(data, count, MPI_FLOAT, "a sum of floats (gradients)");
}

int sumDoubles(double *data, int64_t count) {
  return sumInPlace(data, count, MPI_DOUBLE, "a sum of doubles (metrics)");
}

int broadcast(void *data, int64_t bytes, int32_t root) {
  Watched w("a broadcast from rank 0");
  char *p = static_cast<char *>(data);
  for (int64_t at = 0; at < bytes;) {
    int n = static_cast<int>(std::min<int64_t>(bytes - at, INT_MAX / 2));
    if (MPI_Bcast(p + at, n, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
      return 1;
    at += n;
  }
  return 0;
}

void abortJob(int32_t code) { MPI_Abort(MPI_COMM_WORLD, code); }

void finalize() {
  g_stop = true;
  int done = 0;
  MPI_Finalized(&done);
  if (!done)
    MPI_Finalize();
}

} // namespace

extern "C" __attribute__((visibility("default"))) int
rnc_mpi_open(rnc_mpi_api *api, double timeout_s, char *error,
             int32_t error_size) {
  auto fail = [&](const std::string &why) {
    if (error && error_size > 0)
      std::snprintf(error, static_cast<size_t>(error_size), "%s", why.c_str());
    return 1;
  };
  if (!api || !(timeout_s > 0))
    return fail("rnc_mpi_open: bad arguments");
  int ready = 0;
  MPI_Initialized(&ready);
  if (!ready && MPI_Init(nullptr, nullptr) != MPI_SUCCESS)
    return fail("MPI_Init failed");
  // Errors come back as status codes (one line from rnc-run), not as MPI's
  // own abort.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  g_rank = rank;
  g_world = world;
  g_timeout = timeout_s;
  std::memset(api, 0, sizeof *api);
  api->version = RNC_MPI_PLUGIN_VERSION;
  api->rank = rank;
  api->world = world;
  api->sum_floats = sumFloats;
  api->sum_doubles = sumDoubles;
  api->broadcast = broadcast;
  api->abort_job = abortJob;
  api->finalize = finalize;
  // Detached: it only reads the atomics above, and a process that ends
  // without finalize() must not wait for it.
  std::thread(watchdog).detach();
  return 0;
}
