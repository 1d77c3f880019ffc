// Errors: everything the sample cannot do is one line on stderr ("nat_infer: error: ...") and exit code 1.
#pragma once

#include <stdexcept>
#include <string>

namespace natx {

// An error the user can act on; main() prints its message as one line and returns 1.
class Fatal : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& message);

}  // namespace natx
