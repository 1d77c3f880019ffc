#include "args.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "error.h"

namespace natx {

void printUsage(std::ostream& os) {
  os << "usage: nat_infer ENGINE INPUT [--plugin LIB] [--labels FILE] [--iterations N] [--warmup N]\n"
        "                 [--version-compatible] [--verbose]\n"
        "\n"
        "  ENGINE     engine built by `nat-export trt` (its sidecar ENGINE.json gives labels and preprocessing)\n"
        "  INPUT      binary PPM (P6) image, or a raw float32 NCHW tensor file (e.g. from\n"
        "             `nat-export infer MODEL IMAGE --save-input x.f32`)\n"
        "  --plugin   NA plugin library (libnat_export_trt.so); needed unless the engine is portable\n"
        "  --labels   labels file, one per line (default: the sidecar's labels, else class indices)\n"
        "  --iterations N / --warmup N   timed / untimed runs (default 50 / 5)\n"
        "  --version-compatible          allow the engine's host code (version-compatible engines)\n"
        "\n"
        "preprocess only (no GPU, no TensorRT): write the tensor the engine would get\n"
        "  nat_infer --dump-input OUT.f32 --resolution N|HxW [--sidecar ENGINE.json] IMAGE.ppm\n"
        "\n"
        "example:\n"
        "  nat_infer nat_tiny.engine cat.ppm --plugin ~/.cache/nat-export/plugins/libnat_export_trt.so\n";
}

Options parseArgs(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) fail(std::string(name) + " needs a value");
      return argv[++i];
    };
    auto number = [&](const char* name) -> int {
      std::string v = value(name);
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n < 0)
        fail(std::string(name) + " needs a non-negative integer, got '" + v + "'");
      return static_cast<int>(n);
    };
    if (a == "-h" || a == "--help") {
      o.help = true;
      return o;
    } else if (a == "--plugin") {
      o.plugin = value("--plugin");
    } else if (a == "--labels") {
      o.labels = value("--labels");
    } else if (a == "--iterations") {
      o.iterations = std::max(1, number("--iterations"));
    } else if (a == "--warmup") {
      o.warmup = number("--warmup");
    } else if (a == "--version-compatible") {
      o.versionCompatible = true;
    } else if (a == "--verbose") {
      o.verbose = true;
    } else if (a == "--dump-input") {
      o.dumpInput = value("--dump-input");
    } else if (a == "--sidecar") {
      o.sidecar = value("--sidecar");
    } else if (a == "--resolution") {
      std::string v = value("--resolution");
      size_t x = v.find_first_of("xX");
      o.resH = std::atoi(v.substr(0, x).c_str());
      o.resW = x == std::string::npos ? o.resH : std::atoi(v.substr(x + 1).c_str());
      if (o.resH <= 0 || o.resW <= 0) fail("--resolution needs N or HxW with positive integers, got '" + v + "'");
    } else if (!a.empty() && a[0] == '-') {
      fail("unknown option " + a + " (see --help)");
    } else {
      positional.push_back(a);
    }
  }
  if (!o.dumpInput.empty()) {
    if (positional.size() != 1 || o.resH == 0)
      fail("--dump-input takes one IMAGE.ppm and needs --resolution (see --help)");
    o.input = positional[0];
    return o;
  }
  if (positional.size() != 2) fail("expected ENGINE and INPUT (see --help)");
  o.engine = positional[0];
  o.input = positional[1];
  return o;
}

}  // namespace natx
