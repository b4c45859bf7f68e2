# Runs a libFuzzer target for ctest (cmake -P run_fuzzer.cmake with -D arguments).
#   MODE=fuzz:   FUZZER, SEEDS (read-only seed corpus), WORK (scratch folder, emptied first),
#                SECONDS, MAX_LEN, DICT (optional). New corpus entries and any crashing input go
#                to WORK, never to the seeds.
#   MODE=replay: FUZZER, INPUTS (a folder of regression inputs, each run once; none: passes).
# Fails when the fuzzer reports a finding (crash, sanitizer report, timeout, out-of-memory).

set(limits -timeout=10 -rss_limit_mb=2048)

if(MODE STREQUAL "fuzz")
  file(REMOVE_RECURSE ${WORK})
  file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
  set(args ${limits} -max_total_time=${SECONDS} -max_len=${MAX_LEN} -print_final_stats=1
      -artifact_prefix=${WORK}/artifacts/)
  if(DICT)
    list(APPEND args -dict=${DICT})
  endif()
  execute_process(COMMAND ${FUZZER} ${args} ${WORK}/corpus ${SEEDS} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    file(GLOB found ${WORK}/artifacts/*)
    message(FATAL_ERROR "${FUZZER} found a problem (exit code ${rc}): ${found}\n"
            "Reproduce with: ${FUZZER} <input>; once fixed, commit the input under "
            "tests/fuzz/regressions/<target>/.")
  endif()
elseif(MODE STREQUAL "replay")
  file(GLOB inputs LIST_DIRECTORIES false ${INPUTS}/*)
  if(NOT inputs)
    message(STATUS "no regression inputs in ${INPUTS}")
    return()
  endif()
  list(LENGTH inputs count)
  message(STATUS "replaying ${count} regression inputs from ${INPUTS}")
  execute_process(COMMAND ${FUZZER} ${limits} ${inputs} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${FUZZER} fails on a regression input of ${INPUTS} (exit code ${rc})")
  endif()
else()
  message(FATAL_ERROR "run_fuzzer.cmake: MODE must be fuzz or replay, got '${MODE}'")
endif()
