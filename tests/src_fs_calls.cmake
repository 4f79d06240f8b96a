# test_src_fs_calls: src/file.c is the only file in src/ that calls the
# file system (issue 17: one I/O layer). Every other file goes through
# file.h, so the fault table can fail any call the library makes and the
# crash recorder sees every change; a direct open() or rename() elsewhere
# would be a call no fault test reaches and no simulated power cut undoes.
# file_crash.c is the recorder itself and undoes changes with direct calls.
#
#   cmake -DROOT=<source dir> -P tests/src_fs_calls.cmake
#
# Each src/*.c and src/*.h is read line by line with comments, string and
# character literals removed; a call is a listed name followed by "(" and
# not preceded by an identifier character, "." or "->" (so file_open(,
# p->read( and struct fields do not count).
cmake_minimum_required(VERSION 3.16)
if(NOT ROOT)
  message(FATAL_ERROR "usage: cmake -DROOT=<source dir> -P src_fs_calls.cmake")
endif()

set(allowed file.c file_crash.c)

set(calls
    open openat creat close dup dup2 dup3 fcntl lseek
    mmap munmap mremap msync madvise
    rename renameat renameat2 unlink unlinkat remove mkdir mkdirat rmdir
    link linkat symlink readlink realpath chmod fchmod
    truncate ftruncate fallocate posix_fallocate
    fsync fdatasync syncfs sync_file_range
    opendir fdopendir readdir closedir
    read write pread pwrite readv writev preadv pwritev
    copy_file_range sendfile
    stat fstat lstat fstatat statx access faccessat
    flock lockf
    fopen fdopen freopen fread fwrite fclose mkstemp mkdtemp tmpfile)
list(JOIN calls "|" alt)
set(call_re "(^|[^A-Za-z0-9_.>])(${alt})[ \t]*\\(")

file(GLOB files RELATIVE ${ROOT}/src ${ROOT}/src/*.c ${ROOT}/src/*.h)
if(NOT files)
  message(FATAL_ERROR "no sources found in ${ROOT}/src")
endif()
set(bad "")
set(scanned 0)
foreach(name ${files})
  if(name IN_LIST allowed)
    continue()
  endif()
  math(EXPR scanned "${scanned} + 1")
  file(READ ${ROOT}/src/${name} text)
  # One list element per line: first take the characters that CMake lists
  # treat specially out of the way (they never matter to a call).
  string(REPLACE ";" " " text "${text}")
  string(REPLACE "[" " " text "${text}")
  string(REPLACE "]" " " text "${text}")
  string(REPLACE "\\" "@" text "${text}") # keeps \" from ending a string
  string(REPLACE "\n" ";" lines "${text}")
  set(in_comment FALSE)
  set(lineno 0)
  foreach(line IN LISTS lines)
    math(EXPR lineno "${lineno} + 1")
    if(in_comment)
      string(FIND "${line}" "*/" end)
      if(end EQUAL -1)
        continue()
      endif()
      math(EXPR end "${end} + 2")
      string(SUBSTRING "${line}" ${end} -1 line)
      set(in_comment FALSE)
    endif()
    # An escaped character became @x; character literals, then strings.
    string(REGEX REPLACE "'(@.|[^'@])'" "' '" line "${line}")
    string(REGEX REPLACE "\"(@.|[^\"@])*\"" "\"\"" line "${line}")
    string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" " " line "${line}")
    string(REGEX REPLACE "//.*" "" line "${line}")
    string(FIND "${line}" "/*" start)
    if(NOT start EQUAL -1)
      string(SUBSTRING "${line}" 0 ${start} line)
      set(in_comment TRUE)
    endif()
    if(line MATCHES "${call_re}")
      string(STRIP "${line}" shown)
      string(APPEND bad "  src/${name}:${lineno}: ${CMAKE_MATCH_2}(: ${shown}\n")
    endif()
  endforeach()
endforeach()
if(scanned EQUAL 0)
  message(FATAL_ERROR "no files to check under ${ROOT}/src")
endif()
if(bad)
  message(FATAL_ERROR
          "file-system calls outside src/file.c (use file.h's file_* "
          "calls, which the fault table and crash recorder see):\n${bad}")
endif()
message(STATUS "${scanned} files in src/: no file-system call outside file.c")
