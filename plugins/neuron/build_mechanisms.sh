#!/usr/bin/env bash
# Compiles MODDIR/*.mod with nrnivmodl into OUTDIR/x86_64/.libs/libnrnmech.so: noble's
# own plugins/neuron/mod at build time, and a user's mod files for a cell spec's
# "mechanisms" (docs/neuron-cell.md: `bash build_mechanisms.sh mod .` in the cell's folder).
# usage: build_mechanisms.sh MODDIR OUTDIR
# NRNIVMODL_INCFLAGS and NRNIVMODL_LOADFLAGS, if set, go to nrnivmodl's -incflags
# and -loadflags (mod_noble/build_noblecell.sh links the NobleCell mechanism
# against an installed libnoble through them); NRNIVMODL_WHO names the caller in
# the messages.
#
# Debian 12's neuron-dev 8.2.2 installs nrnivmodl in /usr/bin but its makefile in
# /usr/lib/nrn (and libnrniv.so in /usr/lib/nrn), so nrnivmodl as shipped fails
# with "/usr/bin/nrnmech_makefile: No such file". We point nrnivmodl at the real
# makefile through NRNHOME_EXEC and a one-link folder, and pass libdir through
# MAKEFLAGS. Debian's headers also lack ivstream.h, so the last step, linking the
# `special` executable, fails; noble loads the mechanism library into Python
# (h.nrn_load_dll) and never uses `special`, so success here means: the library
# was built, from these mod files, in this run.
set -euo pipefail
moddir=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"
cd "$out"
lib=x86_64/.libs/libnrnmech.so
rm -f "$lib" x86_64/libnrnmech.so
if [ -f /usr/lib/nrn/nrnmech_makefile ] && [ ! -f /usr/bin/nrnmech_makefile ]; then
  mkdir -p nrnshim/bin
  ln -sf /usr/lib/nrn/nrnmech_makefile nrnshim/bin/nrnmech_makefile
  export NRNHOME_EXEC="$PWD/nrnshim"
  export MAKEFLAGS="libdir=/usr/lib/nrn"
fi
who=${NRNIVMODL_WHO:-build_mechanisms}
flags=()
[ -n "${NRNIVMODL_INCFLAGS:-}" ] && flags+=(-incflags "$NRNIVMODL_INCFLAGS")
[ -n "${NRNIVMODL_LOADFLAGS:-}" ] && flags+=(-loadflags "$NRNIVMODL_LOADFLAGS")
set +e
nrnivmodl "${flags[@]}" "$moddir" > nrnivmodl.log 2>&1
rc=$?
set -e
if [ ! -f "$lib" ]; then
  cat nrnivmodl.log >&2
  echo "$who: nrnivmodl (exit $rc) did not produce $out/$lib" >&2
  exit 1
fi
if [ $rc -ne 0 ] && ! grep -q "special" nrnivmodl.log; then
  cat nrnivmodl.log >&2
  echo "$who: nrnivmodl failed (exit $rc)" >&2
  exit 1
fi
echo "$who: $out/$lib from $(ls "$moddir"/*.mod | wc -l) mod files"
