#!/usr/bin/env bash
# Compiles the NobleCell mechanism (this folder's noblecell.mod and noble.mod)
# with nrnivmodl against an installed libnoble (cmake --install ... --prefix
# PREFIX) into OUTDIR/x86_64/.libs/libnrnmech.so, which nrniv -dll, hoc's
# nrn_load_dll or Python's h.nrn_load_dll loads (docs/plugin-abi.md, "NEURON,
# from hoc").
# usage: build_noblecell.sh PREFIX OUTDIR
#
# What it runs, in OUTDIR:
#   nrnivmodl -incflags "-I PREFIX/include" \
#             -loadflags "-L PREFIX/lib -lnoble -Wl,-rpath,PREFIX/lib" MODDIR
# NOBLECELL_CFLAGS and NOBLECELL_LDFLAGS, if set, are added to those (the
# sanitizer build's test compiles the mechanism with -fsanitize=address,undefined).
# With Debian 12's neuron-dev 8.2.2 the same shim as build_mechanisms.sh
# (nrnivmodl looks for its makefile in /usr/bin, Debian installs it in
# /usr/lib/nrn; the `special` executable cannot be linked there, and is not
# needed: success means the library was built from these mod files, in this run).
set -euo pipefail
prefix=$(cd "$1" && pwd)
out=$2
moddir=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
cd "$out"
lib=x86_64/.libs/libnrnmech.so
rm -f "$lib" x86_64/libnrnmech.so
if [ ! -f "$prefix/include/noble_embed.h" ] || [ ! -e "$prefix/lib/libnoble.so" ]; then
  echo "build_noblecell: $prefix is not an installed libnoble (include/noble_embed.h, lib/libnoble.so):" \
    "cmake --install BUILD --prefix $prefix" >&2
  exit 1
fi
if [ -f /usr/lib/nrn/nrnmech_makefile ] && [ ! -f /usr/bin/nrnmech_makefile ]; then
  mkdir -p nrnshim/bin
  ln -sf /usr/lib/nrn/nrnmech_makefile nrnshim/bin/nrnmech_makefile
  export NRNHOME_EXEC="$PWD/nrnshim"
  export MAKEFLAGS="libdir=/usr/lib/nrn"
fi
set +e
nrnivmodl -incflags "-I$prefix/include ${NOBLECELL_CFLAGS:-}" \
  -loadflags "-L$prefix/lib -lnoble -Wl,-rpath,$prefix/lib ${NOBLECELL_LDFLAGS:-}" \
  "$moddir" > nrnivmodl.log 2>&1
rc=$?
set -e
if [ ! -f "$lib" ]; then
  cat nrnivmodl.log >&2
  echo "build_noblecell: nrnivmodl (exit $rc) did not produce $out/$lib" >&2
  exit 1
fi
if [ $rc -ne 0 ] && ! grep -q "special" nrnivmodl.log; then
  cat nrnivmodl.log >&2
  echo "build_noblecell: nrnivmodl failed (exit $rc)" >&2
  exit 1
fi
echo "build_noblecell: $out/$lib"
