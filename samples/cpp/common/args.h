// The command line of nat_infer.
#pragma once

#include <ostream>
#include <string>

namespace natx {

struct Options {
  std::string engine, input, plugin, labels;
  std::string dumpInput;  // preprocess only: write the tensor here and stop (no GPU needed)
  std::string sidecar;    // with --dump-input: the sidecar giving the preprocessing
  int resH = 0, resW = 0;
  int iterations = 50;
  int warmup = 5;
  bool versionCompatible = false;
  bool verbose = false;
  bool help = false;  // -h/--help: print the usage and exit 0 (nothing else is parsed)
};

void printUsage(std::ostream& os);

// The options, or a Fatal error naming the bad argument.
Options parseArgs(int argc, char** argv);

}  // namespace natx
