# test_src_headers: nothing outside src/ includes a src/ header (issue 17:
# the library is the tools' only door). The CLI, the bench, the broker, the
# codecs, the tests and the fuzzers reach libnodata through include/
# (nodata.h, nodata_zerocopy.h, and for tests nodata_testing.h) only, so
# the library's internals can change without them noticing.
#
#   cmake -DROOT=<source dir> -P tests/src_headers.cmake
#
# A quoted #include names a src/ header when it goes through a src/ path,
# or when its file name is one of src/*.h and the including file's own
# directory has no header of that name. Build trees (a CMakeCache.txt at
# their top) and hidden directories are skipped.
cmake_minimum_required(VERSION 3.16)
if(NOT ROOT)
  message(FATAL_ERROR "usage: cmake -DROOT=<source dir> -P src_headers.cmake")
endif()
file(GLOB src_headers RELATIVE ${ROOT}/src ${ROOT}/src/*.h)
if(NOT src_headers)
  message(FATAL_ERROR "no headers found in ${ROOT}/src")
endif()

file(GLOB children RELATIVE ${ROOT} ${ROOT}/*)
set(bad "")
set(scanned 0)
foreach(child ${children})
  if(NOT IS_DIRECTORY ${ROOT}/${child} OR child STREQUAL "src"
     OR child MATCHES "^\\." OR EXISTS ${ROOT}/${child}/CMakeCache.txt)
    continue()
  endif()
  file(GLOB_RECURSE files ${ROOT}/${child}/*.c ${ROOT}/${child}/*.h)
  foreach(f ${files})
    if(f MATCHES "/CMakeFiles/")
      continue()
    endif()
    math(EXPR scanned "${scanned} + 1")
    get_filename_component(dir ${f} DIRECTORY)
    file(STRINGS ${f} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line ${lines})
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1"
             inc "${line}")
      get_filename_component(name ${inc} NAME)
      set(hit FALSE)
      if(inc MATCHES "(^|/)src/")
        set(hit TRUE)
      elseif(name IN_LIST src_headers AND NOT EXISTS ${dir}/${name})
        set(hit TRUE)
      endif()
      file(RELATIVE_PATH rel ${ROOT} ${f})
      if(hit)
        string(APPEND bad "  ${rel}: #include \"${inc}\"\n")
      endif()
    endforeach()
  endforeach()
endforeach()
if(scanned EQUAL 0)
  message(FATAL_ERROR "no files outside src/ were found under ${ROOT}")
endif()
if(bad)
  message(FATAL_ERROR
          "files outside src/ include src/ headers (use nodata.h, or "
          "nodata_testing.h in tests and fuzzers):\n${bad}")
endif()
message(STATUS "${scanned} files outside src/: no src/ header included")
