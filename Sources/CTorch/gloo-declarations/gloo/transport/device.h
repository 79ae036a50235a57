// See ../README.md: declarations only; Gloo itself is compiled into libtorch_cpu.
#pragma once

namespace gloo::transport {
class Device;
class UnboundBuffer;
} // namespace gloo::transport
