#include "common/trtLibrary.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstring>

namespace natx {
namespace trt {

const char* const kTrtSonames[] = {"libnvinfer.so.11", "libnvinfer.so.10", "libnvinfer_lean.so.11",
                                   "libnvinfer_lean.so.10", nullptr};

void* findLoadedTrtSymbol(const char* name) noexcept {
  for (const char* const* so = kTrtSonames; *so != nullptr; ++so) {
    // RTLD_NOLOAD: only a library that is already loaded (globally, or locally as by
    // Python's tensorrt module) is returned; nothing new is loaded.
    void* h = dlopen(*so, RTLD_LAZY | RTLD_NOLOAD);
    if (h == nullptr) continue;
    void* sym = dlsym(h, name);
    dlclose(h);  // drops the reference RTLD_NOLOAD added; the library stays loaded
    if (sym != nullptr) return sym;
  }
  // Another soname (a custom TensorRT build): accept a global symbol only when it lives in
  // a library whose file name says nvinfer, so a generic name like getLogger cannot bind
  // to some unrelated library.
  if (void* anchor = dlsym(RTLD_DEFAULT, "getPluginRegistry")) {
    Dl_info info{};
    if (dladdr(anchor, &info) != 0 && info.dli_fname != nullptr && std::strstr(info.dli_fname, "nvinfer") != nullptr) {
      void* h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
      if (h != nullptr) {
        void* sym = dlsym(h, name);
        dlclose(h);
        return sym;
      }
    }
  }
  return nullptr;
}

int loadedTrtMajorVersion() noexcept {
  // Plain signatures: getInferLibMajorVersion is not declared by every 10.x header.
  using IntFn = int32_t (*)();
  if (auto major = reinterpret_cast<IntFn>(findLoadedTrtSymbol("getInferLibMajorVersion"))) return major();
  // Older 10.x releases: getInferLibVersion() = major*10000 + minor*100 + patch.
  if (auto ver = reinterpret_cast<IntFn>(findLoadedTrtSymbol("getInferLibVersion"))) return ver() / 10000;
  return 0;
}

std::string loadTrtFromSearchPath() {
  for (const char* so : {"libnvinfer.so.11", "libnvinfer.so.10"}) {
    void* h = dlopen(so, RTLD_NOW | RTLD_GLOBAL);
    if (h == nullptr) continue;
    void* sym = dlsym(h, "getPluginRegistry");
    Dl_info info{};
    if (sym != nullptr && dladdr(sym, &info) != 0 && info.dli_fname != nullptr) return info.dli_fname;
    if (sym != nullptr) return so;
  }
  return "";
}

}  // namespace trt
}  // namespace natx
