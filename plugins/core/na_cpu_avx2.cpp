// The SIMD CPU kernel for AVX2 + FMA + F16C (na_cpu_simd.h); compiled with -mavx2 -mfma -mf16c
// (plugins/CMakeLists.txt) and run only when the CPU has all three (na_cpu.cpp).
#define NATX_CPU_ISA avx2
#include "na_cpu_simd.h"
