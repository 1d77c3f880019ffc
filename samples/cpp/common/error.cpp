#include "error.h"

namespace natx {

void fail(const std::string& message) {
  throw Fatal(message);
}

}  // namespace natx
