# Building against any LibTorch: Debian's (/usr), the official zip, or a PyTorch wheel's bundled
# copy. Included by the top-level CMakeLists.txt; with Debian's LibTorch nothing here changes a
# compile flag. What differs between them, and what ftune does about it:
#  - Where TorchConfig.cmake is: Torch_DIR / CMAKE_PREFIX_PATH, or FTUNE_TORCH_FROM_PYTHON=ON.
#  - The libstdc++ ABI (_GLIBCXX_USE_CXX11_ABI in TORCH_CXX_FLAGS). Debian's compiled libraries
#    (libfmt, libgtest, libsentencepiece) use the new ABI (1); PyTorch wheels before 2.7 and the
#    "pre-cxx11" zips use the old one (0). With 0, every ftune target is compiled with 0, fmt is
#    used header-only, GoogleTest is built from source, and the SentencePiece shim stays on the
#    system ABI: it is dlopen'ed and its boundary is plain C (tokenizer/sentencepiece.h, spm_abi).
#  - fmt headers: LibTorch 2.x ships its own fmt in <prefix>/include/fmt, which shadows the
#    system's for every target that links torch; fmt is then used header-only (no libfmt.so of
#    another version to link against).

option(FTUNE_TORCH_FROM_PYTHON "find LibTorch inside the torch package of FTUNE_PYTHON" OFF)
set(FTUNE_PYTHON "python3" CACHE STRING "the Python whose torch FTUNE_TORCH_FROM_PYTHON uses")
set(FTUNE_GTEST_SOURCE_DIR "" CACHE PATH "GoogleTest sources, for an old-ABI LibTorch (optional)")

# Before find_package(Torch): puts torch.utils.cmake_prefix_path first in CMAKE_PREFIX_PATH.
function(ftune_add_python_torch_prefix)
  if(NOT FTUNE_TORCH_FROM_PYTHON)
    return()
  endif()
  execute_process(
    COMMAND ${FTUNE_PYTHON} -c "import torch, torch.utils; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE prefix
    ERROR_VARIABLE error
    RESULT_VARIABLE status
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR
      "FTUNE_TORCH_FROM_PYTHON: '${FTUNE_PYTHON} -c \"import torch\"' failed (${status}): "
      "${error}\nhint: install a PyTorch wheel for that Python, point -DFTUNE_PYTHON=... at "
      "one that has it, or pass -DCMAKE_PREFIX_PATH=<libtorch> instead")
  endif()
  if(NOT EXISTS "${prefix}/Torch/TorchConfig.cmake")
    message(FATAL_ERROR
      "FTUNE_TORCH_FROM_PYTHON: ${FTUNE_PYTHON}'s torch.utils.cmake_prefix_path '${prefix}' "
      "has no Torch/TorchConfig.cmake; hint: that torch ships no C++ CMake package (Debian's "
      "python3-torch does not: configure without this option to use libtorch-dev)")
  endif()
  # A Torch_DIR cached by an earlier configure would win over the prefix path.
  string(FIND "${Torch_DIR}" "${prefix}" at)
  if(Torch_DIR AND NOT at EQUAL 0)
    message(STATUS "ftune: dropping cached Torch_DIR=${Torch_DIR} for ${FTUNE_PYTHON}'s torch")
    unset(Torch_DIR CACHE)
  endif()
  # The torch folder too (prefix is <torch>/share/cmake): TorchConfig's find_library calls search
  # <prefix>/lib of each CMAKE_PREFIX_PATH entry before the system folders, so the wheel's
  # libtorch.so and libc10.so win over Debian's (libtorch-dev) when both are installed.
  get_filename_component(torch_root "${prefix}/../.." ABSOLUTE)
  set(CMAKE_PREFIX_PATH "${prefix};${torch_root};${CMAKE_PREFIX_PATH}" PARENT_SCOPE)
  message(STATUS "ftune: LibTorch from ${FTUNE_PYTHON}'s torch package: ${torch_root}")
endfunction()

# After find_package(Torch): every LibTorch library must come from the LibTorch whose headers are
# used. TorchConfig looks its libraries up by name, and a system LibTorch (Debian's /usr/lib) found
# first would be linked against other headers; the binary would then work only by accident of
# RUNPATH.
function(ftune_check_torch_libraries)
  foreach(var TORCH_LIBRARY c10_LIBRARY torch_cpu_LIBRARY torch_cuda_LIBRARY C10_CUDA_LIBRARY)
    if(${var} AND NOT ${var} MATCHES "-NOTFOUND$")
      string(FIND "${${var}}" "${TORCH_INSTALL_PREFIX}/" at)
      if(NOT at EQUAL 0)
        message(FATAL_ERROR
          "LibTorch at ${TORCH_INSTALL_PREFIX}, but ${var} is ${${var}} (another LibTorch); "
          "hint: delete this build folder's CMakeCache.txt, or pass "
          "-DCMAKE_PREFIX_PATH=${TORCH_INSTALL_PREFIX}")
      endif()
    endif()
  endforeach()
endfunction()

# After find_package(Torch) and find_package(fmt). Sets FTUNE_TORCH_CXX11_ABI (0 or 1) in the
# caller's scope and adapts the build to it.
macro(ftune_match_torch_abi)
  set(FTUNE_TORCH_CXX11_ABI 1)
  if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=([01])")
    set(FTUNE_TORCH_CXX11_ABI ${CMAKE_MATCH_1})
  endif()
  set(ftune_torch_fmt OFF)
  if(EXISTS "${TORCH_INSTALL_PREFIX}/include/fmt/format.h"
     AND NOT "${TORCH_INSTALL_PREFIX}/include" IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    set(ftune_torch_fmt ON)
  endif()

  if(FTUNE_TORCH_CXX11_ABI STREQUAL "0" OR ftune_torch_fmt)
    # fmt::fmt keeps its name (the folders link it) but takes fmt::fmt-header-only's usage
    # requirements: every fmt function is compiled into our objects, for our ABI and for the fmt
    # version the translation unit sees.
    get_target_property(ftune_fmt_defs fmt::fmt-header-only INTERFACE_COMPILE_DEFINITIONS)
    set_target_properties(fmt::fmt PROPERTIES INTERFACE_COMPILE_DEFINITIONS "${ftune_fmt_defs}")
  endif()

  if(FTUNE_TORCH_CXX11_ABI STREQUAL "0")
    message(STATUS
      "ftune: LibTorch ${Torch_VERSION} at ${TORCH_INSTALL_PREFIX} uses the old C++ ABI "
      "(_GLIBCXX_USE_CXX11_ABI=0). Compiling ftune with it too: fmt header-only, GoogleTest "
      "from source, the SentencePiece shim (C interface, dlopen'ed) on the system ABI. Other "
      "C++ libraries linked into ftune must use the old ABI as well.")
    add_compile_definitions(_GLIBCXX_USE_CXX11_ABI=0)
  elseif(ftune_torch_fmt)
    message(STATUS "ftune: LibTorch ${Torch_VERSION} ships fmt headers: using fmt header-only")
  endif()
endmacro()

# Old ABI + tests: the system's libgtest.a cannot link, so build GoogleTest's sources (Debian's
# `googletest` package puts them in /usr/src/googletest) and make find_package(GTest) use them.
function(ftune_build_gtest_from_source)
  if(NOT FTUNE_TORCH_CXX11_ABI STREQUAL "0" OR NOT FTUNE_TESTS)
    return()
  endif()
  set(candidates ${FTUNE_GTEST_SOURCE_DIR})
  foreach(prefix IN LISTS CMAKE_PREFIX_PATH)
    list(APPEND candidates "${prefix}/src/googletest" "${prefix}/usr/src/googletest")
  endforeach()
  list(APPEND candidates /usr/src/googletest)
  set(source_dir "")
  foreach(candidate IN LISTS candidates)
    if(EXISTS "${candidate}/googletest/CMakeLists.txt")
      set(source_dir "${candidate}")
      break()
    endif()
  endforeach()
  if(NOT source_dir)
    message(FATAL_ERROR
      "ftune tests with an old-ABI LibTorch: GoogleTest sources not found (looked in: "
      "${candidates}); hint: apt-get install googletest, or -DFTUNE_GTEST_SOURCE_DIR=<dir with "
      "googletest/CMakeLists.txt>, or -DFTUNE_TESTS=OFF")
  endif()
  message(STATUS "ftune: building GoogleTest from ${source_dir}")
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  add_subdirectory("${source_dir}" "${PROJECT_BINARY_DIR}/googletest" EXCLUDE_FROM_ALL)
  foreach(name gtest gtest_main gmock gmock_main)
    if(NOT TARGET GTest::${name})  # GoogleTest >= 1.11 makes these aliases itself
      add_library(GTest::${name} ALIAS ${name})
    endif()
  endforeach()
  set(config_dir "${PROJECT_BINARY_DIR}/googletest-config")
  file(WRITE "${config_dir}/GTestConfig.cmake"
       "# GoogleTest built from source by ftune (cmake/libtorch.cmake): the targets exist.\n")
  set(GTest_DIR "${config_dir}" CACHE PATH "GoogleTest built from source" FORCE)
endfunction()

# The SentencePiece shim links the system's libsentencepiece: it keeps the compiler's default ABI
# (-U comes after the directory's -D on the command line).
function(ftune_keep_system_abi target)
  if(FTUNE_TORCH_CXX11_ABI STREQUAL "0")
    target_compile_options(${target} PRIVATE -U_GLIBCXX_USE_CXX11_ABI)
  endif()
endfunction()
