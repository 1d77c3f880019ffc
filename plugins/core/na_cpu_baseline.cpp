// The SIMD CPU kernel for the build's baseline ISA (na_cpu_simd.h).
#define NATX_CPU_ISA baseline
#include "na_cpu_simd.h"
