// Drives libnat_export_trt.so through a real TensorRT library's plugin registry, with no
// GPU: dlopen libnvinfer_lean (or libnvinfer), IPluginRegistry::loadLibrary(plugin),
// look the creator up, create plugins from fields at build and runtime phase, and
// round-trip getFieldsToSerialize() -> createPlugin(kRUNTIME). The Python bindings
// cannot call getFieldsToSerialize() on C++ plugins, hence this program.
//
//   natx_trt_lean_driver <path/to/libnvinfer_lean.so.11> <path/to/libnat_export_trt.so>
//
// Never creates a runtime or builder. Prints one line per check; exit code 0 iff all pass.
#include <NvInferRuntime.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "common/naRegistry.h"
#include "test_fields.h"

using namespace nvinfer1;
using natx_test::Fields;
using natx_test::readSerialized;
using natx_test::Serialized;

namespace {

int g_fail = 0, g_pass = 0;

void check(bool ok, const char* what) {
  (ok ? g_pass : g_fail) += 1;
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what);
}

// The registry methods used here, for the loaded TensorRT major version.
struct Registry {
  void* impl = nullptr;
  int major = 0;
  void* loadLibrary(const char* path) {
    if (major == 11) return static_cast<natx::trt::RegistryV11*>(impl)->loadLibrary(path);
    return static_cast<natx::trt::RegistryV10*>(impl)->loadLibrary(path);
  }
  IPluginCreatorInterface* getCreator(const char* name, const char* version, const char* ns) {
    if (major == 11) return static_cast<natx::trt::RegistryV11*>(impl)->getCreator(name, version, ns);
    return static_cast<natx::trt::RegistryV10*>(impl)->getCreator(name, version, ns);
  }
};

IPluginV3OneRuntime* runtimeOf(IPluginV3* p) {
  return static_cast<IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
}
IPluginV3OneCore* coreOf(IPluginV3* p) {
  return static_cast<IPluginV3OneCore*>(p->getCapabilityInterface(PluginCapabilityType::kCORE));
}

bool sameAttrs(const Serialized& s, int heads, int k0, int k1, int d0, int d1, float scale) {
  return s.typesOk && s.heads == heads && s.k0 == k0 && s.k1 == k1 && s.d0 == d0 && s.d1 == d1 && s.scale == scale;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <libnvinfer_lean.so> <libnat_export_trt.so>\n", argv[0]);
    return 2;
  }
  void* trt = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (trt == nullptr) {
    std::fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
    return 2;
  }
  using IntFn = int32_t (*)();
  using RegFn = void* (*)();
  auto majorFn = reinterpret_cast<IntFn>(dlsym(trt, "getInferLibMajorVersion"));
  auto versionFn = reinterpret_cast<IntFn>(dlsym(trt, "getInferLibVersion"));
  auto regFn = reinterpret_cast<RegFn>(dlsym(trt, "getPluginRegistry"));
  if (regFn == nullptr || versionFn == nullptr) {
    std::fprintf(stderr, "%s exports no getPluginRegistry/getInferLibVersion\n", argv[1]);
    return 2;
  }
  Registry reg;
  reg.major = majorFn ? majorFn() : versionFn() / 10000;
  reg.impl = regFn();
  std::printf("TensorRT library version %d (major %d)\n", versionFn(), reg.major);
  if (reg.major != 10 && reg.major != 11) {
    std::fprintf(stderr, "unsupported TensorRT major version %d\n", reg.major);
    return 2;
  }

  check(reg.loadLibrary(argv[2]) != nullptr, "loadLibrary(plugin)");
  IPluginCreatorInterface* ci = reg.getCreator("NeighborhoodAttention2D", "1", "");
  check(ci != nullptr, "getCreator(NeighborhoodAttention2D, 1, \"\")");
  if (ci == nullptr) return 1;
  check(std::strcmp(ci->getInterfaceInfo().kind, "PLUGIN CREATOR_V3ONE") == 0, "creator is IPluginCreatorV3One");
  auto* creator = static_cast<IPluginCreatorV3One*>(ci);
  check(std::strcmp(creator->getPluginName(), "NeighborhoodAttention2D") == 0 &&
            std::strcmp(creator->getPluginVersion(), "1") == 0 && std::strcmp(creator->getPluginNamespace(), "") == 0,
        "creator name/version/namespace");
  const PluginFieldCollection* names = creator->getFieldNames();
  check(names != nullptr && names->nbFields == 4 && std::strcmp(names->fields[0].name, "num_heads") == 0 &&
            std::strcmp(names->fields[1].name, "kernel_size") == 0 &&
            std::strcmp(names->fields[2].name, "dilation") == 0 && std::strcmp(names->fields[3].name, "scale") == 0,
        "getFieldNames");

  // Build phase from ONNX-style fields (with the parser's extra string attributes).
  Fields f = natx_test::validFields(6, 9, 5, 3, 2, 0.0625f);
  f.str("plugin_version", "1").str("plugin_namespace", "");
  std::unique_ptr<IPluginV3> p(creator->createPlugin("na_layer", f.fc(), TensorRTPhase::kBUILD));
  check(p != nullptr, "createPlugin(kBUILD)");
  if (!p) return 1;
  check(coreOf(p.get()) != nullptr && std::strcmp(coreOf(p.get())->getPluginName(), "NeighborhoodAttention2D") == 0,
        "core capability");
  check(p->getCapabilityInterface(PluginCapabilityType::kBUILD) != nullptr, "build capability");
  Serialized s1 = readSerialized(runtimeOf(p.get())->getFieldsToSerialize());
  check(s1.n == 4 && sameAttrs(s1, 6, 9, 5, 3, 2, 0.0625f), "getFieldsToSerialize == creation fields");

  // Runtime phase from the serialized fields, as engine deserialization does.
  std::unique_ptr<IPluginV3> r(
      creator->createPlugin("na_layer", runtimeOf(p.get())->getFieldsToSerialize(), TensorRTPhase::kRUNTIME));
  check(r != nullptr, "createPlugin(kRUNTIME, serialized fields)");
  if (!r) return 1;
  Serialized s2 = readSerialized(runtimeOf(r.get())->getFieldsToSerialize());
  check(s2.n == 4 && sameAttrs(s2, 6, 9, 5, 3, 2, 0.0625f), "round trip keeps every field");

  std::unique_ptr<IPluginV3> c(r->clone());
  check(c != nullptr && sameAttrs(readSerialized(runtimeOf(c.get())->getFieldsToSerialize()), 6, 9, 5, 3, 2, 0.0625f),
        "clone keeps every field");
  std::unique_ptr<IPluginV3> a(runtimeOf(r.get())->attachToContext(nullptr));
  check(a != nullptr && a.get() != r.get(), "attachToContext returns a clone");

  // Invalid fields: nullptr, logged, no crash.
  Fields bad = natx_test::validFields(4, 6, 7);
  check(creator->createPlugin("bad_layer", bad.fc(), TensorRTPhase::kBUILD) == nullptr, "even kernel -> nullptr");
  Fields missing;
  missing.i32("num_heads", {4});
  check(creator->createPlugin("bad_layer", missing.fc(), TensorRTPhase::kRUNTIME) == nullptr,
        "missing fields -> nullptr");

  // A second load of the same creators is refused by the registry, not a crash.
  check(reg.loadLibrary(argv[2]) == nullptr, "second loadLibrary refused");

  std::printf("natx_trt_lean_driver: %d checks passed, %d failed\n", g_pass, g_fail);
  return g_fail == 0 ? 0 : 1;
}
