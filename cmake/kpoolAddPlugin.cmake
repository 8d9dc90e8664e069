# kpoolAddPlugin.cmake - kpool_add_plugin(NAME SOURCES src.c ...): builds a
# kpool plugin. Part of the installed CMake package (find_package(kpool)).
#
# A plugin is a MODULE library named libNAME.so, compiled as C11 against
# kpool/plugin.h (the target kpool::plugin: an include folder, nothing to
# link). It must not link libkpool: kpool hands a plugin its services through
# the table in its descriptor when it loads it, so one plugin works with every
# kpool of the same ABI major version, and in kpool's forked workers. Symbols
# are hidden except the descriptor KPOOL_PLUGIN exports.
#
# The target is NAME; add compile options, include folders or the libraries
# the kernels use (e.g. m) to it as to any other target.
function(kpool_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "kpool_add_plugin(${name}): unexpected arguments "
                        "'${arg_UNPARSED_ARGUMENTS}'; the form is "
                        "kpool_add_plugin(NAME SOURCES file.c ...)")
  endif()
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "kpool_add_plugin(${name}): no SOURCES given; the form is "
                        "kpool_add_plugin(NAME SOURCES file.c ...)")
  endif()
  if(NOT TARGET kpool::plugin)
    message(FATAL_ERROR "kpool_add_plugin(${name}): the target kpool::plugin does not exist; "
                        "call find_package(kpool REQUIRED) first")
  endif()
  add_library(${name} MODULE ${arg_SOURCES})
  set_target_properties(${name} PROPERTIES PREFIX "lib" OUTPUT_NAME ${name} C_STANDARD 11
                        C_STANDARD_REQUIRED ON C_VISIBILITY_PRESET hidden)
  target_link_libraries(${name} PRIVATE kpool::plugin)
endfunction()
