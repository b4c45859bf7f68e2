# Flags for genarm's *own* executables (tests, CLI, examples, benchmarks). Nothing here touches
# the genarm INTERFACE target, so a parent project keeps full control of its flags.
function(genarm_own_target target)
  # -Wno-maybe-uninitialized: GCC 12 false positives inside Eigen's AVX-512 code.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
                         $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
  if(GENARM_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
  endif()
  if(GENARM_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${GENARM_SANITIZE} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${GENARM_SANITIZE})
  endif()
endfunction()
