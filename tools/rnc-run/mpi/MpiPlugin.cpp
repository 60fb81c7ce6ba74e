// librnc-mpi.so: rnc-run's communicator over MPI (MpiPlugin.h). Every
// collective is nonblocking and waited for in a loop that also answers the
// other ranks' "where are you?"; one that waits longer than the timeout asks
// every rank where it is and ends the job naming the ranks that never came.
#include "MpiPlugin.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>
#include <unistd.h>

namespace {

int32_t g_rank = 0, g_world = 1;
double g_timeout = 600;
uint64_t g_calls = 0;             // collectives started by this rank
double g_sum_seconds = 0;         // in sumFloats
MPI_Comm g_probe = MPI_COMM_NULL; // the "where are you?" messages
constexpr int kAsk = 1, kAnswer = 2;

double nowSeconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Another rank that waits too long asks where this one is: the number of
// the collective this rank waits in. Answered from every wait (waitFor),
// so a rank that does not answer is not waiting in any collective.
void answerAsks() {
  static int64_t answer; // a send buffer must outlive MPI_Request_free
  for (;;) {
    int asked = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kAsk, g_probe, &asked, &st) !=
            MPI_SUCCESS ||
        !asked)
      return;
    int64_t theirs = 0;
    MPI_Recv(&theirs, 1, MPI_INT64_T, st.MPI_SOURCE, kAsk, g_probe,
             MPI_STATUS_IGNORE);
    answer = static_cast<int64_t>(g_calls);
    MPI_Request r;
    if (MPI_Isend(&answer, 1, MPI_INT64_T, st.MPI_SOURCE, kAnswer, g_probe,
                  &r) == MPI_SUCCESS)
      MPI_Request_free(&r);
  }
}

// The timeout passed in collective `what`: asks every other rank where it
// is, waits a moment for the answers (the ranks that wait too answer at
// once), names the ranks that are not in this collective, and ends the
// job. A rank that has died is named by mpirun before this.
[[noreturn]] void endHungJob(const char *what) {
  static int64_t mine;
  mine = static_cast<int64_t>(g_calls);
  for (int r = 0; r < g_world; ++r) {
    MPI_Request req;
    if (r != g_rank && MPI_Isend(&mine, 1, MPI_INT64_T, r, kAsk, g_probe,
                                 &req) == MPI_SUCCESS)
      MPI_Request_free(&req);
  }
  std::vector<int64_t> where(static_cast<size_t>(g_world), -1);
  where[static_cast<size_t>(g_rank)] = mine;
  const double until = nowSeconds() + std::min(2.0, g_timeout);
  int answered = 1;
  while (answered < g_world && nowSeconds() < until) {
    answerAsks();
    int got = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kAnswer, g_probe, &got, &st) ==
            MPI_SUCCESS &&
        got) {
      int64_t theirs = -1;
      MPI_Recv(&theirs, 1, MPI_INT64_T, st.MPI_SOURCE, kAnswer, g_probe,
               MPI_STATUS_IGNORE);
      if (where[static_cast<size_t>(st.MPI_SOURCE)] < 0)
        ++answered;
      where[static_cast<size_t>(st.MPI_SOURCE)] = theirs;
    } else {
      ::usleep(1000);
    }
  }
  std::string silent, elsewhere;
  int missing = 0;
  for (int r = 0; r < g_world; ++r) {
    int64_t w = where[static_cast<size_t>(r)];
    if (w == mine)
      continue;
    ++missing;
    if (w < 0)
      silent += (silent.empty() ? "" : ", ") + std::to_string(r);
    else
      elsewhere += (elsewhere.empty() ? "" : ", ") + std::string("rank ") +
                   std::to_string(r) + " in collective #" + std::to_string(w);
  }
  std::string who;
  if (!silent.empty())
    who = std::string(silent.find(',') == std::string::npos ? "rank "
                                                            : "ranks ") +
          silent + " did not reach it (hung, or busy outside any collective)";
  if (!elsewhere.empty())
    who += (who.empty() ? "" : "; ") + elsewhere;
  if (missing == 0)
    who = "every rank answered from this collective (a transport fault?)";
  std::fprintf(stderr,
               "rnc-run: rank %d of %d: waited %.0f s for the other ranks in "
               "%s (collective #%llu): %s; ending the job "
               "(RNC_COLLECTIVE_TIMEOUT sets the limit)\n",
               g_rank, g_world, g_timeout, what,
               static_cast<unsigned long long>(mine), who.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 124);
  ::_exit(124); // MPI_Abort does not return; in case it does
}

// Waits for a nonblocking collective, answering other ranks' questions;
// past the timeout it ends the job (endHungJob). A hot loop at first (a
// sum of gradients takes microseconds to milliseconds), then gentler.
int waitFor(MPI_Request *req, const char *what) {
  const double start = nowSeconds();
  for (long polls = 0;; ++polls) {
    int done = 0;
    if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
      return 1;
    if (done)
      return 0;
    if (polls % 64 == 0) {
      answerAsks();
      if (nowSeconds() - start > g_timeout)
        endHungJob(what);
    }
    if (polls > 20000)
      ::usleep(20);
  }
}

// Sums `count` values in place over all ranks, in pieces an int can count.
template <class T>
int sumInPlace(T *data, int64_t count, MPI_Datatype type, const char *what) {
  for (int64_t at = 0; at < count;) {
    int n = static_cast<int>(std::min<int64_t>(count - at, INT_MAX / 2));
    ++g_calls;
    MPI_Request req;
    if (MPI_Iallreduce(MPI_IN_PLACE, data + at, n, type, MPI_SUM,
                       MPI_COMM_WORLD, &req) != MPI_SUCCESS ||
        waitFor(&req, what) != 0)
      return 1;
    at += n;
  }
  return 0;
}

int sumFloats(void *, float *data, int64_t count, void *) {
  const double start = nowSeconds();
  int status =
      sumInPlace(data, count, MPI_FLOAT, "a sum of floats (gradients)");
  g_sum_seconds += nowSeconds() - start;
  return status;
}

double sumSeconds() { return g_sum_seconds; }

int sumDoubles(double *data, int64_t count) {
  return sumInPlace(data, count, MPI_DOUBLE, "a sum of doubles (metrics)");
}

int broadcast(void *data, int64_t bytes, int32_t root) {
  char *p = static_cast<char *>(data);
  for (int64_t at = 0; at < bytes;) {
    int n = static_cast<int>(std::min<int64_t>(bytes - at, INT_MAX / 2));
    ++g_calls;
    MPI_Request req;
    if (MPI_Ibcast(p + at, n, MPI_BYTE, root, MPI_COMM_WORLD, &req) !=
            MPI_SUCCESS ||
        waitFor(&req, "a broadcast from rank 0") != 0)
      return 1;
    at += n;
  }
  return 0;
}

void abortJob(int32_t code) { MPI_Abort(MPI_COMM_WORLD, code); }

void finalize() {
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
  if (MPI_Comm_dup(MPI_COMM_WORLD, &g_probe) != MPI_SUCCESS)
    return fail("MPI_Comm_dup failed");
  std::memset(api, 0, sizeof *api);
  api->version = RNC_MPI_PLUGIN_VERSION;
  api->rank = rank;
  api->world = world;
  api->sum_floats = sumFloats;
  api->sum_doubles = sumDoubles;
  api->broadcast = broadcast;
  api->abort_job = abortJob;
  api->finalize = finalize;
  api->sum_seconds = sumSeconds;
  return 0;
}
