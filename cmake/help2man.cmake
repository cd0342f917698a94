# Writes a man page for one of the project's programs from its own --help, so the page and the
# CLI cannot drift apart: help2man for the top-level text, then one section per subcommand (and
# per nested subcommand) with that verb's --help.
#   cmake -DHELP2MAN=... -DPROGRAM=... -DSECTION=8 -DNAME="..." -DOUT=... -DINCLUDE=... -P help2man.cmake
# INCLUDE (optional) is a help2man include file with hand-written sections (FILES, SEE ALSO).

# The verbs listed under "Subcommands:" (CLI11's heading) in a program's --help.
function(list_verbs help out_var)
  string(REPLACE "\n" ";" lines "${help}")
  set(verbs)
  set(in_list OFF)
  foreach(line IN LISTS lines)
    if(line MATCHES "^SUBCOMMANDS:|^Subcommands:")
      set(in_list ON)
    elseif(in_list AND line MATCHES "^  ([a-z][a-z-]*)")
      list(APPEND verbs "${CMAKE_MATCH_1}")
    elseif(in_list AND NOT line MATCHES "^ ")
      set(in_list OFF)
    endif()
  endforeach()
  set(${out_var} "${verbs}" PARENT_SCOPE)
endfunction()

function(help_of args out_var)
  execute_process(COMMAND "${PROGRAM}" ${args} --help OUTPUT_VARIABLE help
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " shown "${args}")
    message(FATAL_ERROR "${PROGRAM} ${shown} --help exited ${rc}: ${err}")
  endif()
  set(${out_var} "${help}" PARENT_SCOPE)
endfunction()

# groff treats a leading '.' or "'" as a request, and '\' as an escape.
function(as_roff text out_var)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

help_of("" top)
list_verbs("${top}" verbs)
get_filename_component(prog "${PROGRAM}" NAME)
set(commands "[COMMANDS]\n")
foreach(verb IN LISTS verbs)
  help_of("${verb}" help)
  list_verbs("${help}" nested)
  as_roff("${help}" roff)
  string(APPEND commands ".SS ${prog} ${verb}\n.nf\n${roff}.fi\n")
  foreach(sub IN LISTS nested)
    help_of("${verb};${sub}" subhelp)
    as_roff("${subhelp}" roff)
    string(APPEND commands ".SS ${prog} ${verb} ${sub}\n.nf\n${roff}.fi\n")
  endforeach()
endforeach()

set(include_file "${OUT}.h2m")
set(extra "")
if(INCLUDE)
  file(READ "${INCLUDE}" extra)
endif()
file(WRITE "${include_file}" "${commands}\n${extra}")
execute_process(
  COMMAND "${HELP2MAN}" --no-info --section=${SECTION} --name=${NAME}
          --include=${include_file} --output=${OUT} "${PROGRAM}"
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man for ${PROGRAM} failed (${rc}): ${err}")
endif()
