#!/usr/bin/env bash
# One command from a fresh clone to a result:
#   scripts/quickstart.sh demo   install what is missing, build, run the GenARM demo on the bundled models
#   scripts/quickstart.sh test   install what is missing, build, run the whole test suite
#                                (ctest; ASan+UBSan; ThreadSanitizer on the concurrency tests; fuzz smoke runs)
# Build folders: build/ (Release), build-asan/, build-tsan/, build-fuzz/. JOBS=N overrides the parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
jobs=${JOBS:-$(nproc)}

need=()
have_pkg() { dpkg -s "$1" >/dev/null 2>&1; }
for pkg in cmake g++ make libeigen3-dev nlohmann-json3-dev libgtest-dev; do have_pkg "$pkg" || need+=("$pkg"); done
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
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
}

case "$mode" in
  demo)
    configure build
    cmake --build build -j "$jobs" --target genarm_cli
    build/bin/genarm demo
    ;;
  test)
    echo "== Release build and the full test suite"
    configure build
    cmake --build build -j "$jobs"
    ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900

    echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
    configure build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGENARM_SANITIZE=address,undefined \
      -DGENARM_BUILD_BENCHMARKS=OFF -DGENARM_BUILD_EXAMPLES=OFF
    cmake --build build-asan -j "$jobs"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 1800 -LE 'cmake|slow'

    echo "== ThreadSanitizer: one model shared by several generating threads, the thread pool"
    configure build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGENARM_SANITIZE=thread -DGENARM_BUILD_CLI=OFF \
      -DGENARM_BUILD_BENCHMARKS=OFF -DGENARM_BUILD_EXAMPLES=OFF
    cmake --build build-tsan -j "$jobs" --target genarm_core_tests genarm_generate_tests
    TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure --timeout 900 -R '^(Concurrency|ThreadPool)\.'

    echo "== libFuzzer: a short run of each fuzz target and its regression inputs (tests/fuzz)"
    if command -v clang++ >/dev/null 2>&1; then
      configure build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DGENARM_BUILD_FUZZERS=ON -DGENARM_BUILD_TESTS=OFF \
        -DGENARM_BUILD_CLI=OFF -DGENARM_BUILD_EXAMPLES=OFF -DGENARM_BUILD_BENCHMARKS=OFF
      cmake --build build-fuzz -j "$jobs"
      ctest --test-dir build-fuzz --output-on-failure -j "$jobs" -L fuzz
    else
      echo "   skipped: clang++ not found (Debian: apt-get install clang libclang-rt-dev)"
    fi
    ;;
  *)
    echo "usage: scripts/quickstart.sh demo|test" >&2
    exit 2
    ;;
esac
