// The processes of a data-parallel job (Comm.h).
#include "Comm.h"

#include "mpi/MpiPlugin.h"
#include "nccl/NcclPlugin.h"

#include "runtime/InstallLayout.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <vector>

namespace rnc::run {

namespace {

const rnc_mpi_api *api(const void *p) {
  return static_cast<const rnc_mpi_api *>(p);
}

const rnc_nccl_api *nccl(const void *p) {
  return static_cast<const rnc_nccl_api *>(p);
}

// A plugin library of rnc-run: $env, else <bin>/../lib/rnc/<file>.
std::string pluginPath(const char *env, const char *file) {
  if (const char *p = std::getenv(env); p && *p)
    return p;
  return executableDir() + "/../lib/rnc/" + file;
}

// mpirun's size of the world, or "" when not started by a launcher.
std::string launcherWorld() {
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char *v = std::getenv(name); v && *v)
      return v;
  return "";
}

double collectiveTimeout() {
  const char *v = std::getenv("RNC_COLLECTIVE_TIMEOUT");
  if (!v || !*v)
    return 600;
  char *end = nullptr;
  double t = std::strtod(v, &end);
  if (*end || !(t > 0) || !std::isfinite(t))
    throw std::runtime_error("rnc-run: RNC_COLLECTIVE_TIMEOUT='" +
                             std::string(v) +
                             "': expected a positive number of seconds");
  return t;
}

} // namespace

Comm &Comm::job() {
  static Comm *comm = [] {
    auto *c = new Comm;
    c->join();
    return c;
  }();
  return *comm;
}

void Comm::join() {
  const std::string size = launcherWorld();
  if (size.empty())
    return;
  const double timeout = collectiveTimeout();
  const std::string path = pluginPath("RNC_MPI_PLUGIN", "librnc-mpi.so");
  // RTLD_GLOBAL: Open MPI's own components resolve libmpi's symbols.
  void *h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    const char *why = ::dlerror();
    throw std::runtime_error(
        "rnc-run: started by mpirun (" + size + " processes), but its MPI "
        "plugin " + path + " cannot be loaded (" + (why ? why : "?") +
        "); build rnc with libopenmpi-dev installed, or set RNC_MPI_PLUGIN");
  }
  auto open = reinterpret_cast<decltype(&rnc_mpi_open)>(
      ::dlsym(h, "rnc_mpi_open"));
  if (!open)
    throw std::runtime_error("rnc-run: " + path +
                             ": missing symbol rnc_mpi_open");
  static rnc_mpi_api table;
  char error[256] = "";
  if (open(&table, timeout, error, sizeof error) != 0)
    throw std::runtime_error("rnc-run: cannot join the MPI job: " +
                             std::string(error));
  if (table.version != RNC_MPI_PLUGIN_VERSION)
    throw std::runtime_error("rnc-run: " + path + " is plugin version " +
                             std::to_string(table.version) + ", expected " +
                             std::to_string(RNC_MPI_PLUGIN_VERSION));
  api_ = &table;
  rank_ = table.rank;
  world_ = table.world;
}

std::string Comm::prefix() const {
  return distributed() ? "rank " + std::to_string(rank_) + " of " +
                             std::to_string(world_) + ": "
                       : std::string();
}

void Comm::sum(double *data, size_t count) {
  if (distributed() && api(api_)->sum_doubles(data, int64_t(count)) != 0)
    throw std::runtime_error("rnc-run: "
                             "the sum over the ranks failed");
}

void Comm::sum(float *data, size_t count) {
  if (distributed() &&
      api(api_)->sum_floats(nullptr, data, int64_t(count), nullptr) != 0)
    throw std::runtime_error("rnc-run: "
                             "the sum over the ranks failed");
}

void Comm::broadcast(void *data, size_t bytes) {
  if (distributed() && api(api_)->broadcast(data, int64_t(bytes), 0) != 0)
    throw std::runtime_error("rnc-run: "
                             "the broadcast from rank 0 failed");
}

rnc_collectives Comm::collectives(bool syncBn, bool gpu) {
  rnc_collectives c{};
  c.rank = rank_;
  c.world = world_;
  c.sync_bn = syncBn ? 1 : 0;
  c.allreduce_sum = api_ ? api(api_)->sum_floats : nullptr;
  if (gpu && distributed()) {
    joinNccl();
    c.ctx = this;
    c.allreduce_sum = &Comm::gpuSum;
    // The step's NCCL sums run inside its graph, out of MPI's watch: the
    // model fails a step that waits longer (checkAfterTimedOutStep).
    c.timeout_s = static_cast<int32_t>(
        std::min(std::ceil(collectiveTimeout()), double(INT32_MAX)));
  }
  return c;
}

int Comm::gpuSum(void *ctx, float *data, int64_t count, void *stream) {
  const Comm *c = static_cast<const Comm *>(ctx);
  return stream ? nccl(c->nccl_)->allreduce_sum(nullptr, data, count, stream)
                : api(c->api_)->sum_floats(nullptr, data, count, nullptr);
}

void Comm::allOrNone(const std::string &why, const std::string &what) {
  if (!why.empty())
    std::fprintf(stderr, "rnc-run: rank %d: %s\n", rank_, why.c_str());
  double failed = why.empty() ? 0 : 1;
  sum(&failed, 1);
  if (failed > 0)
    throw JobError("rnc-run: " + std::to_string(int(failed)) + " of " +
                   std::to_string(world_) + " ranks " + what +
                   " (their lines above say why)");
}

// Every rank loads the plugin, rank 0 makes the ncclUniqueId, MPI carries
// it to the others, every rank joins; a step fails on every rank or none.
void Comm::joinNccl() {
  if (nccl_)
    return;
  static rnc_nccl_api table;
  char error[512] = "";
  const std::string path = pluginPath("RNC_NCCL_PLUGIN", "librnc-nccl.so");
  std::string why;
  if (void *h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL); !h) {
    const char *e = ::dlerror();
    why = "the NCCL plugin " + path + " cannot be loaded (" +
          (e ? e : "?") + "); build rnc where the CUDA toolkit has NCCL, or "
          "set RNC_NCCL_PLUGIN";
  } else if (auto open = reinterpret_cast<decltype(&rnc_nccl_open)>(
                 ::dlsym(h, "rnc_nccl_open"));
             !open) {
    why = path + ": missing symbol rnc_nccl_open";
  } else if (open(&table, error, sizeof error) != 0) {
    why = path + ": " + error;
  } else if (table.version != RNC_NCCL_PLUGIN_VERSION) {
    why = path + " is plugin version " + std::to_string(table.version) +
          ", expected " + std::to_string(RNC_NCCL_PLUGIN_VERSION);
  }
  allOrNone(why, "cannot load NCCL for the cuda model");
  unsigned char id[RNC_NCCL_ID_BYTES] = {};
  why.clear();
  if (root() && table.unique_id(id, error, sizeof error) != 0)
    why = error;
  allOrNone(why, "cannot make the NCCL unique id");
  broadcast(id, sizeof id);
  why.clear();
  if (table.join(rank_, world_, id, error, sizeof error) != 0)
    why = error;
  allOrNone(why, "cannot join the NCCL communicator");
  nccl_ = &table;
}

void Comm::checkAfterTimedOutStep(const std::string &why) {
  std::fprintf(stderr, "rnc-run: rank %d of %d: %s\n", rank_, world_,
               why.c_str());
  std::fflush(stderr);
  // The ranks whose steps timed out too meet here; one that never comes is
  // named by the MPI plugin after the timeout, which ends the job.
  double timedOut = 1;
  sum(&timedOut, 1);
  throw JobError(
      "rnc-run: the step timed out on all " + std::to_string(world_) +
      " ranks (every rank reached the check after it): a kernel or NCCL "
      "hangs, not one rank");
}

double Comm::stepSumSeconds() const {
  return api_ ? api(api_)->sum_seconds() : 0.0;
}

std::string Comm::ncclText() const {
  if (!nccl_)
    return "";
  const int v = nccl(nccl_)->nccl_version; // e.g. 22803: 2.28.3
  return "NCCL " + std::to_string(v / 10000) + "." +
         std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

void Comm::agree(const std::string &what, const std::string &mine) {
  if (!distributed())
    return;
  uint64_t size = mine.size();
  broadcast(&size, sizeof size);
  std::string theirs(size, '\0');
  if (root())
    theirs = mine;
  broadcast(theirs.data(), theirs.size());
  double differ = theirs == mine ? 0 : 1;
  if (differ)
    std::fprintf(stderr, "rnc-run: rank %d: %s differs from rank 0's: %s "
                 "here, %s on rank 0\n", rank_, what.c_str(), mine.c_str(),
                 theirs.c_str());
  sum(&differ, 1);
  if (differ > 0)
    throw JobError("rnc-run: " + std::to_string(int(differ)) + " of " +
                   std::to_string(world_) + " ranks have another " + what +
                   " than rank 0; every rank must run the same");
}

void Comm::abortJob(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (api_)
    api(api_)->abort_job(code);
  std::_Exit(code);
}

void Comm::finalize() {
  if (nccl_ && !finalized_)
    nccl(nccl_)->finalize();
  if (api_ && !finalized_)
    api(api_)->finalize();
  finalized_ = true;
}

} // namespace rnc::run
