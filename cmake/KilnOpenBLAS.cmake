# OpenBLAS, and only OpenBLAS: its library and the cblas.h that comes with it.
# Reference BLAS (libblas-dev, pulled in by liblapack-dev) also ships a
# cblas.h, and on Debian /usr/include/<triplet>/cblas.h is whichever one the
# alternatives system points at, so the header directory is taken from
# OpenBLAS itself: `pkg-config openblas` first, else the directory that holds
# OpenBLAS's own openblas_config.h. Sets OPENBLAS_LIBRARY (a full path) and
# CBLAS_INCLUDE_DIR.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(KILN_OPENBLAS QUIET openblas)
endif()
if(KILN_OPENBLAS_FOUND)
  list(GET KILN_OPENBLAS_LINK_LIBRARIES 0 KILN_OPENBLAS_LIBRARY)
  find_path(KILN_OPENBLAS_INCLUDE_DIR cblas.h HINTS ${KILN_OPENBLAS_INCLUDE_DIRS} NO_DEFAULT_PATH)
else()
  find_library(KILN_OPENBLAS_LIBRARY NAMES openblas
    PATH_SUFFIXES openblas-pthread openblas-openmp openblas-serial openblas)
  find_path(KILN_OPENBLAS_INCLUDE_DIR NAMES openblas_config.h
    PATH_SUFFIXES openblas-pthread openblas-openmp openblas-serial openblas)
  if(KILN_OPENBLAS_INCLUDE_DIR AND NOT EXISTS "${KILN_OPENBLAS_INCLUDE_DIR}/cblas.h")
    set(KILN_OPENBLAS_INCLUDE_DIR KILN_OPENBLAS_INCLUDE_DIR-NOTFOUND CACHE PATH "" FORCE)
  endif()
endif()
if(NOT KILN_OPENBLAS_LIBRARY OR NOT KILN_OPENBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "kiln: OpenBLAS not found (library: ${KILN_OPENBLAS_LIBRARY}, "
    "cblas.h: ${KILN_OPENBLAS_INCLUDE_DIR}). kiln needs OpenBLAS itself, not "
    "reference BLAS: install libopenblas-dev (scripts/deps.sh does), or point "
    "PKG_CONFIG_PATH at an OpenBLAS that has openblas.pc.")
endif()
set(OPENBLAS_LIBRARY "${KILN_OPENBLAS_LIBRARY}")
set(CBLAS_INCLUDE_DIR "${KILN_OPENBLAS_INCLUDE_DIR}")
message(STATUS "kiln: OpenBLAS ${KILN_OPENBLAS_VERSION} ${OPENBLAS_LIBRARY}, cblas.h from ${CBLAS_INCLUDE_DIR}")
