# Self-test of the PyTorch reference (bench/reference/): parameter count, checkpoint
# round trip, spectral layer against a direct DFT, check_outputs.py exit codes,
# torch_bench.py smoke run. Needs Debian's python3-torch, python3-numpy, python3-h5py
# (the pyenv python3 on PATH lacks them, hence /usr/bin/python3); nothing from noble.
add_test(NAME test_torch_reference
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_torch_reference.py)
set_tests_properties(test_torch_reference PROPERTIES
                     TIMEOUT 180
                     LABELS "reference"
                     ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1;OMP_NUM_THREADS=1")
