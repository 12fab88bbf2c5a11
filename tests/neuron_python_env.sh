# Sourced by the tests that run Debian's Python with NEURON against an
# installed libnoble (test_neuron_python.sh, test_neuron_network.sh). Sets py
# and preload, or exits 77 (skip) with the reason. Needs $sanitize.
py=/usr/bin/python3
preload=()
if [ "$sanitize" = 1 ]; then
  # An ASan-instrumented libnoble.so needs the ASan runtime loaded before
  # anything else, and Python is not built with it: ctypes.CDLL fails with "ASan
  # runtime does not come first" unless libasan is preloaded into the
  # interpreter. Preloaded, it checks libnoble's memory accesses (and UBSan its
  # arithmetic) under Python; leak detection is off there, since LeakSanitizer
  # would report CPython's and NEURON's own allocations at exit.
  asan=$(cc -print-file-name=libasan.so 2>/dev/null)
  if [ ! -f "$asan" ]; then
    echo "skip: sanitizer build, and no libasan.so to preload into Python (cc -print-file-name=libasan.so)"
    exit 77
  fi
  preload=(LD_PRELOAD="$asan" ASAN_OPTIONS=detect_leaks=0:abort_on_error=0)
  echo "sanitizer build: Python runs with LD_PRELOAD=$asan, ASAN_OPTIONS=detect_leaks=0"
fi
if ! "$py" -c "import neuron, numpy, h5py" > /dev/null 2>&1; then
  echo "skip: $py cannot import neuron, numpy and h5py (Debian: python3-neuron, python3-numpy, python3-h5py)"
  exit 77
fi
