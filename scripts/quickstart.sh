#!/usr/bin/env bash
# One command from a fresh clone to a result:
#   scripts/quickstart.sh demo   install what is missing, build, run the GenARM demo on the bundled models
#   scripts/quickstart.sh test   install what is missing, build, run the whole test suite
#                                (ctest; ASan+UBSan; ThreadSanitizer on the concurrency tests; fuzz smoke runs)
# Build folders: build/ (Release), build-asan/, build-tsan/, build-fuzz/. JOBS=N overrides the parallelism.
# The test mode prints how long each stage took at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
jobs=${JOBS:-$(nproc)}

need=()
have_pkg() { dpkg -s "$1" >/dev/null 2>&1; }
for pkg in cmake g++ make ninja-build pkg-config libeigen3-dev nlohmann-json3-dev libgtest-dev libcpp-httplib-dev; do have_pkg "$pkg" || need+=("$pkg"); done
if [ "$mode" = test ]; then
  for pkg in clang libclang-rt-dev; do have_pkg "$pkg" || need+=("$pkg"); done
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}"
fi

configure() {  # dir, extra args...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
}

# Each stage's wall time, printed as a table at the end (and on failure, up to the failing stage).
stage_names=()
stage_seconds=()
stage_start=0
stage() { stage_end; stage_names+=("$1"); stage_start=$(date +%s); echo "== $1"; }
stage_end() {
  if [ ${#stage_names[@]} -gt ${#stage_seconds[@]} ]; then stage_seconds+=($(( $(date +%s) - stage_start ))); fi
}
report() {
  stage_end
  local total=0
  echo
  echo "stage                                                  seconds"
  for i in "${!stage_names[@]}"; do
    printf '%-52s %7s\n' "${stage_names[$i]}" "${stage_seconds[$i]:-?}"
    total=$(( total + ${stage_seconds[$i]:-0} ))
  done
  printf '%-52s %7s\n' "total" "$total"
}

case "$mode" in
  demo)
    configure build
    cmake --build build -j "$jobs" --target genarm_cli
    build/bin/genarm demo
    ;;
  test)
    trap report EXIT
    stage "build: Release (compiled library -O3, tests -O1)"
    configure build
    cmake --build build -j "$jobs"
    stage "test: Release, the whole suite"
    ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900

    # Sanitizers with clang at -O1, the usual setting for them: several times faster to compile than
    # GCC at -O2 -g, and the library code is instrumented too (it is compiled in this build). Line
    # tables are all a sanitizer report needs (file:line in every frame) and compile faster than -g.
    stage "build: AddressSanitizer + UBSan (clang -O1)"
    configure build-asan -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" -DGENARM_SANITIZE=address,undefined \
      -DGENARM_BUILD_BENCHMARKS=OFF -DGENARM_BUILD_EXAMPLES=OFF
    cmake --build build-asan -j "$jobs"
    stage "test: AddressSanitizer + UBSan"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 1800 -LE 'cmake|slow'

    stage "build: ThreadSanitizer (concurrency tests only)"
    configure build-tsan -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" -DGENARM_SANITIZE=thread -DGENARM_BUILD_CLI=OFF \
      -DGENARM_BUILD_BENCHMARKS=OFF -DGENARM_BUILD_EXAMPLES=OFF
    cmake --build build-tsan -j "$jobs" --target genarm_concurrency_tests
    stage "test: ThreadSanitizer"
    TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure --timeout 900 -L concurrency

    if command -v clang++ >/dev/null 2>&1; then
      stage "build: libFuzzer targets"
      configure build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DGENARM_BUILD_FUZZERS=ON -DGENARM_BUILD_TESTS=OFF \
        -DGENARM_BUILD_CLI=OFF -DGENARM_BUILD_EXAMPLES=OFF -DGENARM_BUILD_BENCHMARKS=OFF -DGENARM_BUILD_COMPILED=OFF
      cmake --build build-fuzz -j "$jobs"
      stage "test: fuzz smoke runs and regression inputs"
      ctest --test-dir build-fuzz --output-on-failure -j "$jobs" -L fuzz
    else
      echo "== libFuzzer stage skipped: clang++ not found (Debian: apt-get install clang libclang-rt-dev)"
    fi
    ;;
  *)
    echo "usage: scripts/quickstart.sh demo|test" >&2
    exit 2
    ;;
esac
