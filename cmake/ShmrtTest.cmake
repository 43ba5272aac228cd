# The one CTest helper: every test is registered here, with a label and a
# timeout, and links the tests' static build of the library, with pause
# points (tests of internals include headers under src/).
#
#   shmrt_add_test(NAME <name> SOURCES <files...> LABEL <label>
#                  TIMEOUT <seconds> [ENV <VAR=value>...])
# What every test runs with under TSan.
set(SHMRT_TSAN_ENV "TSAN_OPTIONS=halt_on_error=1 second_deadlock_stack=1 suppressions=${PROJECT_SOURCE_DIR}/tests/tsan.supp")

function(shmrt_add_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;ENV" ${ARGN})
  if(NOT T_NAME OR NOT T_SOURCES OR NOT T_LABEL OR NOT T_TIMEOUT)
    message(FATAL_ERROR "shmrt_add_test needs NAME, SOURCES, LABEL, TIMEOUT")
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE shmrt_test_static PkgConfig::CMOCKA)
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  set(env "SHMRT_MODE=inline;SHMRT_TEST_TENANT_PREFIX=t${T_NAME}")
  if(SHMRT_SANITIZER MATCHES "thread")
    list(APPEND env "${SHMRT_TSAN_ENV}")
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABEL}"
    TIMEOUT ${T_TIMEOUT} ENVIRONMENT "${env};${T_ENV}")
endfunction()

# Registers tests/<dir>/test_<name>.c as test <dir>_<name> with label <dir>.
function(shmrt_add_test_dir DIR LABEL TIMEOUT)
  file(GLOB tests CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/${DIR}/test_*.c)
  foreach(src ${tests})
    get_filename_component(stem ${src} NAME_WE)
    string(REGEX REPLACE "^test_" "" name ${stem})
    shmrt_add_test(NAME ${DIR}_${name} SOURCES ${src}
      ${PROJECT_SOURCE_DIR}/tests/testutil.c LABEL ${LABEL} TIMEOUT ${TIMEOUT})
  endforeach()
endfunction()

# A test that runs a command (a script, pytest) rather than a C program:
#
#   shmrt_add_command_test(NAME <name> LABEL <label> TIMEOUT <seconds>
#                          COMMAND <argv...> [ENV <VAR=value>...])
function(shmrt_add_command_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "COMMAND;ENV" ${ARGN})
  if(NOT T_NAME OR NOT T_COMMAND OR NOT T_LABEL OR NOT T_TIMEOUT)
    message(FATAL_ERROR "shmrt_add_command_test needs NAME, COMMAND, LABEL, TIMEOUT")
  endif()
  add_test(NAME ${T_NAME} COMMAND ${T_COMMAND})
  set(env "${T_ENV}")
  if(SHMRT_SANITIZER MATCHES "thread")
    list(APPEND env "${SHMRT_TSAN_ENV}")
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABEL}"
    TIMEOUT ${T_TIMEOUT} ENVIRONMENT "${env}")
endfunction()
