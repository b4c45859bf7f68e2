# Configures, builds and runs the consumer project; optionally installs genarm first.
#   -DMODE=subdirectory|package|compiled -DSOURCE=<genarm source> -DWORK=<scratch dir> -DMODEL=<model dir>
#   package:  a header-only install (GENARM_BUILD_COMPILED=OFF: nothing is compiled) used through
#             find_package(genarm CONFIG) and genarm::genarm;
#   compiled: the install of this build tree (its genarm::compiled is already built) used through
#             find_package(genarm CONFIG) and genarm::compiled (-DBUILD=<this build tree>).
file(REMOVE_RECURSE ${WORK})
set(generator_args -G "${GENERATOR}")
function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()
set(consumer_args)
if(MODE STREQUAL "package")
  step(${CMAKE_COMMAND} ${generator_args} -S ${SOURCE} -B ${WORK}/genarm-build -DCMAKE_BUILD_TYPE=Release
       -DGENARM_BUILD_TESTS=OFF -DGENARM_BUILD_EXAMPLES=OFF -DGENARM_BUILD_CLI=OFF
       -DGENARM_BUILD_BENCHMARKS=OFF -DGENARM_BUILD_COMPILED=OFF -DGENARM_INSTALL=ON)
  step(${CMAKE_COMMAND} --install ${WORK}/genarm-build --prefix ${WORK}/prefix)
  list(APPEND consumer_args -DCMAKE_PREFIX_PATH=${WORK}/prefix)
elseif(MODE STREQUAL "compiled")
  step(${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix)
  list(APPEND consumer_args -DCMAKE_PREFIX_PATH=${WORK}/prefix)
endif()
step(${CMAKE_COMMAND} ${generator_args} -S ${SOURCE}/tests/cmake/consumer -B ${WORK}/consumer-build
     -DCMAKE_BUILD_TYPE=Release -DGENARM_CONSUME=${MODE} -DGENARM_SOURCE_DIR=${SOURCE} ${consumer_args})
step(${CMAKE_COMMAND} --build ${WORK}/consumer-build)
step(${WORK}/consumer-build/consumer ${MODEL})
