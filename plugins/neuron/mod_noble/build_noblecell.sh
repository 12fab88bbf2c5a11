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
# It runs ../build_mechanisms.sh with those flags, so Debian 12's shim is the
# same (nrnivmodl looks for its makefile in /usr/bin, Debian installs it in
# /usr/lib/nrn; the `special` executable cannot be linked there, and is not
# needed: success means the library was built from these mod files, in this run).
set -euo pipefail
prefix=$(cd "$1" && pwd)
moddir=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$prefix/include/noble_embed.h" ] || [ ! -e "$prefix/lib/libnoble.so" ]; then
  echo "build_noblecell: $prefix is not an installed libnoble (include/noble_embed.h, lib/libnoble.so):" \
    "cmake --install BUILD --prefix $prefix" >&2
  exit 1
fi
NRNIVMODL_WHO=build_noblecell \
NRNIVMODL_INCFLAGS="-I$prefix/include ${NOBLECELL_CFLAGS:-}" \
NRNIVMODL_LOADFLAGS="-L$prefix/lib -lnoble -Wl,-rpath,$prefix/lib ${NOBLECELL_LDFLAGS:-}" \
  exec bash "$moddir/../build_mechanisms.sh" "$moddir" "$2"
