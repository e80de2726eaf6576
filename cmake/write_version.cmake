# Writes the stopgrad version (`git describe` of the source tree) into OUT. Run at every build;
# configure_file rewrites OUT only when the text changed, so an unchanged tree rebuilds nothing.
execute_process(COMMAND git -C "${SRC}" describe --always --dirty --tags
                OUTPUT_VARIABLE SG_VERSION OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE status ERROR_QUIET)
if(NOT status EQUAL 0 OR SG_VERSION STREQUAL "")
  set(SG_VERSION "unknown (built outside a git checkout)")
endif()
configure_file("${SRC}/cmake/version.cpp.in" "${OUT}" @ONLY)
