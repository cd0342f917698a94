# Warnings and hardening applied to every target of this project (not to third-party code).
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
                    -Woverloaded-virtual -Wformat=2 -Wimplicit-fallthrough
                    # Designated initializers that leave members at their defaults are the idiom.
                    -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # Checks the WB_GUARDED_BY / WB_*_LOCKS_* annotations (common/thread_annotations.h).
  add_compile_options(-Wthread-safety)
endif()
if(WB_WERROR)
  add_compile_options(-Werror)
endif()

set(CMAKE_POSITION_INDEPENDENT_CODE ON)
include(CheckPIESupported)
check_pie_supported()

add_compile_options(-fstack-protector-strong -fstack-clash-protection -fcf-protection
                    -D_GLIBCXX_ASSERTIONS)
add_link_options(-Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack -pie)

if(WB_FUZZ)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # Every library the fuzz targets link gets libFuzzer's coverage instrumentation; only the
    # targets themselves link libFuzzer's main() (-fsanitize=fuzzer, tests/fuzz). A fuzz
    # target is only worth its executions under ASan and UBSan, hence WB_SANITIZE.
    add_compile_options(-fsanitize=fuzzer-no-link)
    set(WB_SANITIZE ON)
  else()
    # A normal variable shadows the cache option from here down: no target asks for libFuzzer.
    message(WARNING "WB_FUZZ needs Clang's libFuzzer; no fuzz targets with "
                    "${CMAKE_CXX_COMPILER_ID} (configure with -DCMAKE_CXX_COMPILER=clang++)")
    set(WB_FUZZ OFF)
  endif()
endif()

if(WB_TSAN AND WB_SANITIZE)
  message(FATAL_ERROR "WB_TSAN cannot be combined with WB_SANITIZE or WB_FUZZ (which implies it): "
                      "ThreadSanitizer and AddressSanitizer cannot share a process. Turn one off.")
endif()

if(WB_TSAN)
  # -O1 after the build type's own -O2 (options come last on the command line, the last -O
  # wins): TSan's documented setting, keeps stacks readable without Debug's 10x slowdown on top
  # of TSan's. The other hardening flags above build and run under TSan. _FORTIFY_SOURCE is
  # left off as with ASan: it turns memcpy, read and the like into their __*_chk variants, which
  # libtsan does not intercept (only __snprintf_chk), so races through them would go unseen.
  add_compile_options(-fsanitize=thread -g -O1 -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC warns (-Wtsan) at each std::atomic_thread_fence, which TSan does not model; Boost
    # 1.74's Asio has them in std_fenced_block, around every handler it runs. Its handlers still
    # pass between threads through the scheduler's mutex, which TSan does see.
    add_compile_options(-Wno-tsan)
  endif()
elseif(WB_SANITIZE)
  # _FORTIFY_SOURCE and ASan both intercept the same libc calls; keep only ASan.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
else()
  # _FORTIFY_SOURCE needs optimisation; Debug builds get -O1 so it stays on.
  add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 $<$<CONFIG:Debug>:-O1>)
endif()

# Boost.Asio's awaitable frames pair a class operator new with a sized operator delete. GCC 12
# with optimisation reports that as -Wmismatched-new-delete (GCC PR 109224; other Asio users
# see it too), a false positive inside Boost's headers that no change of ours can avoid. It is
# turned off only for the targets that run Asio coroutines; ASan's alloc-dealloc-mismatch check
# still covers their allocations in CI.
function(wb_uses_asio_coroutines target)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
endfunction()
