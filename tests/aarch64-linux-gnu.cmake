# Cross-building noble for aarch64 (NEON) on a Debian x86-64 host, to run its
# CPU-backend tests under qemu-user (tests/cross_aarch64.sh does all of it):
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=tests/aarch64-linux-gnu.cmake -DNOBLE_VULKAN=OFF
# Needs gcc-aarch64-linux-gnu, qemu-user and Debian's arm64 multiarch -dev
# packages (install-deps.sh --aarch64). Test executables run through
# CMAKE_CROSSCOMPILING_EMULATOR; the shell-script tests do not.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Libraries and headers of the target only; programs (nrnivmodl, bash) of the host.
# The -dev packages Debian cannot install beside the host's (libhdf5-dev,
# libplplot-dev) are unpacked into NOBLE_ARM64_DEV by tests/cross_aarch64.sh.
set(NOBLE_ARM64_DEV /opt/noble-arm64 CACHE PATH "unpacked arm64 -dev packages")
set(CMAKE_FIND_ROOT_PATH ${NOBLE_ARM64_DEV} /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(ENV{PKG_CONFIG_LIBDIR}
    ${NOBLE_ARM64_DEV}/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
# HDF5 found by its arm64 library, not through the host h5cc wrapper.
set(HDF5_C_COMPILER_EXECUTABLE /bin/false CACHE FILEPATH "the host h5cc would name the host library")
set(HDF5_ROOT ${NOBLE_ARM64_DEV}/usr/lib/aarch64-linux-gnu/hdf5/serial)
find_program(NOBLE_QEMU_AARCH64 qemu-aarch64)
if(NOBLE_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${NOBLE_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
endif()
