// stamp-model FILE...: appends the integrity record `rnc compile` gives a
// model .so (runtime/ModelStamp.h) to the fake models the tests build.
#include "runtime/ModelStamp.h"

#include <cstdio>

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string why = rnc::stampModelFile(argv[i]); !why.empty()) {
      std::fprintf(stderr, "%s: cannot stamp: %s\n", argv[i], why.c_str());
      return 1;
    }
  return 0;
}
