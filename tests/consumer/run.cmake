# cmake -DSOURCE=... -DBUILD=... -DWORK=... -DINCLUDEDIR=include
#       -DPRIVATE_HEADERS=engine/ops_util.h,kernels/cpu,... -P run.cmake
# Installs the already-built cadenza from BUILD into WORK/prefix, checks that
# the private headers (CADENZA_PRIVATE_HEADERS of the root CMakeLists.txt)
# stayed out of it, configures the outside project in project/ against it,
# builds it (with one translation unit per installed header, so a header
# whose own includes were not installed fails) and runs it.
cmake_minimum_required(VERSION 3.20)
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

if(NOT INCLUDEDIR)
  set(INCLUDEDIR include)
endif()
set(inc ${WORK}/prefix/${INCLUDEDIR}/cadenza)
foreach(f cadenza.h config.h engine/tensor.h kernels/dtype.h models/sequence_model.h)
  if(NOT EXISTS ${inc}/${f})
    message(FATAL_ERROR "the public header cadenza/${f} was not installed")
  endif()
endforeach()
string(REPLACE "," ";" private "${PRIVATE_HEADERS}")
if(NOT "engine/ops_util.h" IN_LIST private)
  message(FATAL_ERROR "PRIVATE_HEADERS does not name engine/ops_util.h: '${PRIVATE_HEADERS}'")
endif()
foreach(p ${private})
  if(EXISTS ${inc}/${p})
    message(FATAL_ERROR "the private header cadenza/${p} was installed")
  endif()
endforeach()

# One source per installed header, included the way a user would.
file(GLOB_RECURSE headers RELATIVE ${inc} ${inc}/*.h)
foreach(h ${headers})
  string(MAKE_C_IDENTIFIER "${h}" id)
  file(WRITE ${WORK}/headers/${id}.cpp "#include <cadenza/${h}>\n")
endforeach()
list(LENGTH headers n)
message(STATUS "${n} headers installed")

run(${CMAKE_COMMAND} -S ${SOURCE}/tests/consumer/project -B ${WORK}/build
    -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_BUILD_TYPE=Release
    -DCONSUMER_HEADER_SOURCES_DIR=${WORK}/headers)
run(${CMAKE_COMMAND} --build ${WORK}/build -j2)
run(${WORK}/build/consumer_app)
message(STATUS "${LAST_OUTPUT}")
if(NOT LAST_OUTPUT MATCHES "consumer ok")
  message(FATAL_ERROR "the outside program did not report success:\n${LAST_OUTPUT}")
endif()
