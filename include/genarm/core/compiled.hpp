// How genarm's definitions reach a program, chosen by the including program (the pattern of
// spdlog's SPDLOG_COMPILED_LIB and fmt's FMT_HEADER_ONLY):
//   header-only (default)       every definition is in the headers, `inline`; nothing to link.
//   compiled (GENARM_COMPILED_LIB, set by linking the CMake target genarm::compiled)
//                               the heavy non-template code (transformer, weight kernels,
//                               tokenizer) and the common template instantiations (GuidedPolicy
//                               and ArgsPolicy over TransformerSource, generate() over them) are
//                               compiled once into the library; headers only declare them, so an
//                               including translation unit compiles in seconds.
// Both modes give identical results; a program must use one mode in all its translation units.
// A heavy header `x.hpp` keeps its out-of-line definitions in `x-inl.hpp`, which it includes in
// header-only mode and which the library's sources (src/*.cpp) include in compiled mode.
#pragma once

#if defined(GENARM_COMPILED_LIB)
#define GENARM_INLINE
#else
#define GENARM_HEADER_ONLY 1
#define GENARM_INLINE inline
#endif
