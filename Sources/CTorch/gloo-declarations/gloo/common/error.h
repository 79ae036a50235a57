// See ../README.md: declarations only; Gloo itself is compiled into libtorch_cpu.
#pragma once
