# install_layout_test: `cmake --install BUILD_DIR --prefix /usr` into a scratch DESTDIR, then
# checks that every file lands where Debian's systemd and the docs expect it.
# -DBUILD_DIR=... -DSOURCE_DIR=... -DDESTDIR=... [-DSYSTEMD_ANALYZE=... -DSYSTEMD_SYSUSERS=... -DSYSTEMD_TMPFILES=...]
# -P install_test.cmake
file(REMOVE_RECURSE "${DESTDIR}")
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env "DESTDIR=${DESTDIR}"
          ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix /usr
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc}):\n${out}")
endif()

set(expected
    usr/bin/wbagent
    usr/bin/wbcloud
    usr/lib/systemd/system/wbagent.service
    usr/lib/sysusers.d/wbagent.conf
    usr/lib/tmpfiles.d/wbagent.conf
    usr/lib/systemd/catalog/wbagent.catalog
    usr/share/doc/wbagent/examples/wbagent.example.toml
    usr/share/doc/wbagent/examples/wbagent-alerts.yml
    usr/share/doc/wbagent/README.md)
# Every page of docs/, so that the links between them work on the host (their links are
# checked by installed_docs_links_resolve_test, installed_docs_test.cmake).
file(GLOB docs RELATIVE "${SOURCE_DIR}/docs" "${SOURCE_DIR}/docs/*.md")
foreach(page IN LISTS docs)
  list(APPEND expected "usr/share/doc/wbagent/${page}")
endforeach()
foreach(f IN LISTS expected)
  if(NOT EXISTS "${DESTDIR}/${f}")
    message(FATAL_ERROR "not installed: /${f}\n${out}")
  endif()
endforeach()
foreach(bin wbagent wbcloud)
  execute_process(COMMAND "${DESTDIR}/usr/bin/${bin}" --help RESULT_VARIABLE rc
                  OUTPUT_QUIET ERROR_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "installed ${bin} --help exited ${rc}")
  endif()
endforeach()

file(READ "${DESTDIR}/usr/lib/systemd/system/wbagent.service" unit)
foreach(line "Type=notify" "ExecStart=/usr/bin/wbagent run --config /etc/wbagent/wbagent.toml"
             "WatchdogSec=30" "User=wbagent" "Documentation=file:/usr/share/doc/wbagent/operations.md")
  string(FIND "${unit}" "${line}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the installed unit lacks ${line}")
  endif()
endforeach()

# systemd-analyze verify checks ExecStart= against the host, where /usr/bin/wbagent may not
# exist: verify a copy that names the installed binary instead. It needs no running systemd.
if(SYSTEMD_ANALYZE)
  set(scratch "${DESTDIR}-verify")
  file(REMOVE_RECURSE "${scratch}")
  string(REPLACE "/usr/bin/wbagent " "${DESTDIR}/usr/bin/wbagent " unit_here "${unit}")
  file(WRITE "${scratch}/wbagent.service" "${unit_here}")
  execute_process(COMMAND "${SYSTEMD_ANALYZE}" verify "${scratch}/wbagent.service"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE vout ERROR_VARIABLE vout)
  if(NOT rc EQUAL 0 OR NOT vout STREQUAL "")
    message(FATAL_ERROR "systemd-analyze verify (${rc}):\n${vout}")
  endif()
endif()

# The sysusers.d entry creates the user, and the tmpfiles.d entries then give the directories
# their owners and modes, in a scratch root.
if(SYSTEMD_SYSUSERS AND SYSTEMD_TMPFILES)
  set(root "${DESTDIR}-root")
  file(REMOVE_RECURSE "${root}")
  file(MAKE_DIRECTORY "${root}/etc" "${root}/var/lib")
  execute_process(
    COMMAND "${SYSTEMD_SYSUSERS}" --root=${root} "${DESTDIR}/usr/lib/sysusers.d/wbagent.conf"
    RESULT_VARIABLE rc OUTPUT_VARIABLE sout ERROR_VARIABLE sout)
  file(READ "${root}/etc/passwd" passwd)
  if(NOT rc EQUAL 0 OR NOT passwd MATCHES "(^|\n)wbagent:x:[0-9]+:[0-9]+:[^:]*:/var/lib/wbagent:")
    message(FATAL_ERROR "systemd-sysusers (${rc}):\n${sout}\n${passwd}")
  endif()
  # Setting owners needs root; elsewhere only the user is checked.
  execute_process(COMMAND id -u OUTPUT_VARIABLE my_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(my_uid STREQUAL "0")
    execute_process(
      COMMAND "${SYSTEMD_TMPFILES}" --root=${root} --create
              "${DESTDIR}/usr/lib/tmpfiles.d/wbagent.conf"
      RESULT_VARIABLE rc OUTPUT_VARIABLE tout ERROR_VARIABLE tout)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "systemd-tmpfiles (${rc}):\n${tout}")
    endif()
    string(REGEX MATCH "wbagent:x:([0-9]+):([0-9]+):" _ "${passwd}")
    set(uid "${CMAKE_MATCH_1}")
    set(gid "${CMAKE_MATCH_2}")
    foreach(dir_expected "etc/wbagent=750 0:${gid}" "var/lib/wbagent=700 ${uid}:${gid}")
      string(REPLACE "=" ";" parts "${dir_expected}")
      list(GET parts 0 dir)
      list(GET parts 1 expected)
      execute_process(COMMAND stat -c "%a %u:%g" "${root}/${dir}" OUTPUT_VARIABLE got
                      OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(NOT got STREQUAL expected)
        message(FATAL_ERROR "/${dir}: mode and owner '${got}', not '${expected}'")
      endif()
    endforeach()
  endif()
endif()
message(STATUS "installed layout OK in ${DESTDIR}")
