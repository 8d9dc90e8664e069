# `cmake --install`: the SDK for plugin authors and embedding programs.
#
#   bin/kpool                              the binary; finds libkpool through its RPATH
#   lib/libkpool.so.MAJOR (and symlinks)   the embedding API
#   include/kpool/{plugin.h,kpool.h}       the public headers
#   lib/pkgconfig/kpool.pc                 pkg-config --cflags [--libs] kpool
#   lib/cmake/kpool/                       find_package(kpool): kpool::plugin,
#                                          kpool::kpool, kpool::kpool_exe and
#                                          kpool_add_plugin(NAME SOURCES ...)
#
# (lib is CMAKE_INSTALL_LIBDIR.) Every installed file finds the others
# relative to its own place, so `cmake --install build --prefix DIR` makes a
# working SDK in any DIR, without root. Included by the top CMakeLists.txt.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(KPOOL_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/kpool)

# libkpool exports as kpool::kpool. Its build-tree include folders come from
# kpool_objects (BUILD_INTERFACE only); installed, it has the prefix's.
set_target_properties(libkpool PROPERTIES EXPORT_NAME kpool)
target_include_directories(libkpool INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

# kpool::plugin: what a plugin compiles against, and nothing to link. A plugin
# must not link libkpool (kpool/plugin.h says why); it needs C11 for the
# _Static_assert and _Generic of KPOOL_KERNEL_TYPED.
add_library(kpool_plugin INTERFACE)
add_library(kpool::plugin ALIAS kpool_plugin)
set_target_properties(kpool_plugin PROPERTIES EXPORT_NAME plugin)
target_include_directories(kpool_plugin INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                                  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(kpool_plugin INTERFACE c_std_11)

# The installed binary loads the libkpool installed beside it, wherever the
# prefix is, with no LD_LIBRARY_PATH: $ORIGIN is the folder of the binary.
set_target_properties(kpool PROPERTIES EXPORT_NAME kpool_exe
                                       INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")

install(TARGETS kpool libkpool kpool_plugin EXPORT kpoolTargets
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/kpool DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")

# The CMake package. The targets file finds the prefix from its own place.
install(EXPORT kpoolTargets NAMESPACE kpool:: DESTINATION ${KPOOL_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/kpoolConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/cmake/kpoolConfig.cmake
                              INSTALL_DESTINATION ${KPOOL_INSTALL_CMAKEDIR})
# 0.x: SameMajorVersion accepts any 0.y at least as new as the one asked for.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/kpoolConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/kpoolConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/kpoolConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/kpoolAddPlugin.cmake
        DESTINATION ${KPOOL_INSTALL_CMAKEDIR})

# kpool.pc: its prefix is ${pcfiledir} plus the way up from LIBDIR/pkgconfig,
# so that the file stays right when the prefix is chosen at install time
# (cmake --install --prefix) rather than at configure time.
foreach(kind INCLUDEDIR LIBDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
    set(KPOOL_PC_${kind} "${CMAKE_INSTALL_${kind}}")
  else()
    set(KPOOL_PC_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  file(RELATIVE_PATH KPOOL_PC_PREFIX "${CMAKE_INSTALL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH KPOOL_PC_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/kpool.pc.in ${PROJECT_BINARY_DIR}/cmake/kpool.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/kpool.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
