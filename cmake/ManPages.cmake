# Man pages generated from the programs' own --help (cmake/help2man.cmake): wbagent(8) and
# wbcloud(1). Built and installed when help2man is there (the Debian package build-depends on
# it); a developer build without it simply has no man pages.
include(GNUInstallDirs)
find_program(WB_HELP2MAN help2man)
if(NOT WB_HELP2MAN)
  message(STATUS "help2man not found: no man pages")
  return()
endif()

function(wb_man_page target section name include_file)
  set(out "${CMAKE_BINARY_DIR}/man/${target}.${section}")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DHELP2MAN=${WB_HELP2MAN} -DPROGRAM=$<TARGET_FILE:${target}>
            -DSECTION=${section} "-DNAME=${name}" -DOUT=${out} -DINCLUDE=${include_file}
            -P ${PROJECT_SOURCE_DIR}/cmake/help2man.cmake
    DEPENDS ${target} ${include_file} ${PROJECT_SOURCE_DIR}/cmake/help2man.cmake
    COMMENT "Generating the man page ${target}(${section})")
  add_custom_target(${target}-man ALL DEPENDS "${out}")
  install(FILES "${out}" DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endfunction()

wb_man_page(wbagent 8 "on-premises password writeback agent"
            ${PROJECT_SOURCE_DIR}/agent/wbagent.8.h2m)
wb_man_page(wbcloud 1 "reference cloud endpoint for wbagent"
            ${PROJECT_SOURCE_DIR}/tools/wbcloud/wbcloud.1.h2m)
