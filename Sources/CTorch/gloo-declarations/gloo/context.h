// See README.md: declarations only; Gloo itself is compiled into libtorch_cpu.
#pragma once

#include <chrono>

namespace gloo {
// c10d's inline ProcessGroupGloo::setTimeout names this member; DiTKit never calls it (the timeout is set once, in
// the options the group is built with).
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
} // namespace gloo
