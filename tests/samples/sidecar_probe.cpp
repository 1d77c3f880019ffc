// Test helper for tests/samples/test_cpp_sample.py: reads a sidecar with the sample's reader
// (samples/cpp/common/sidecar.cpp) and prints what it got as one JSON object, or
// "nat_infer: error: ..." and exit code 1, as nat_infer does.
//
//   sidecar_probe SIDECAR.json
#include <nlohmann/json.hpp>

#include <iostream>

#include "common/sidecar.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: sidecar_probe SIDECAR.json\n";
    return 2;
  }
  try {
    const natx::Sidecar s = natx::readSidecar(argv[1]);
    const natx::Preprocessing& pp = s.preprocessing;
    nlohmann::json out = {
        {"resize_shorter_side", pp.resizeShorterSide},
        {"mean", {pp.mean[0], pp.mean[1], pp.mean[2]}},
        {"std", {pp.std[0], pp.std[1], pp.std[2]}},
        {"labels", s.labels},
        {"exact_resize", pp.exactResize},
        {"channels", pp.channels},
    };
    std::cout << out.dump() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "nat_infer: error: " << e.what() << "\n";
    return 1;
  }
}
