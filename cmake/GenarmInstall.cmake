include(CMakePackageConfigHelpers)

install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS genarm EXPORT genarmTargets)
if(TARGET genarm_compiled)
  install(TARGETS genarm_compiled EXPORT genarmTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
install(EXPORT genarmTargets NAMESPACE genarm:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/genarm)

configure_package_config_file(cmake/genarmConfig.cmake.in
  ${PROJECT_BINARY_DIR}/genarmConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/genarm)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/genarmConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/genarmConfig.cmake ${PROJECT_BINARY_DIR}/genarmConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/genarm)

# The bundled toy models and data: the CLI's default when no model is named.
install(DIRECTORY models/ DESTINATION ${CMAKE_INSTALL_DATADIR}/genarm/models)
install(DIRECTORY data/ DESTINATION ${CMAKE_INSTALL_DATADIR}/genarm/data)
