# cmake -DSOURCE=... -DBUILD=... -DWORK=... -P run.cmake
# Installs the already-built cadenza from BUILD into WORK/prefix, configures
# the outside project in project/ against it, builds it and runs it.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(LAST_OUTPUT "${out}" PARENT_SCOPE)
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix)
run(${CMAKE_COMMAND} -S ${SOURCE}/tests/consumer/project -B ${WORK}/build
    -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK}/build -j2)
run(${WORK}/build/consumer_app)
message(STATUS "${LAST_OUTPUT}")
if(NOT LAST_OUTPUT MATCHES "consumer ok")
  message(FATAL_ERROR "the outside program did not report success:\n${LAST_OUTPUT}")
endif()
