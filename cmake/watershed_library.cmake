# watershed_library(NAME SOURCES ... DEPS ...)
# Declares component library watershed_<NAME> with alias watershed::<NAME>,
# warnings as errors, and the repository's src/ as include root.
function(watershed_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror
    -Wno-unused-parameter)
endfunction()

function(watershed_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(watershed_${name} STATIC ${ARG_SOURCES})
  add_library(watershed::${name} ALIAS watershed_${name})
  target_include_directories(watershed_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(watershed_${name} PUBLIC ${ARG_DEPS})
  watershed_warnings(watershed_${name})
endfunction()

# watershed_test(NAME SOURCES ... DEPS ...): one GoogleTest binary registered in CTest.
function(watershed_test name)
  if(NOT WATERSHED_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  watershed_warnings(${name})
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST PROPERTIES TIMEOUT 300)
endfunction()
