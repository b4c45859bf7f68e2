// GENARM_UNROLL, before a loop with a small compile-time trip count: unroll it completely.
// A register tile keeps its accumulators in registers only when the loops over its rows and
// columns are unrolled. GCC does that at -O3 but not at -O2 (CMake's RelWithDebInfo, the default
// of many projects that include genarm), where the tiles went through the stack and prefill ran
// at a third of the speed (F32 162 against ~500 tokens/s on the 91M Llama, 1 thread).
#pragma once

#if defined(__clang__)
#define GENARM_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define GENARM_UNROLL _Pragma("GCC unroll 32")
#else
#define GENARM_UNROLL
#endif
