/* cpu_pointwise.c - C twins of the operator's GLSL kernels for the CPU backend
 * (cpu_kernels.h lists them). */
#include "cpu_kernels.h"

nb_status nm__cpu_register_pointwise(void) { return NB_OK; }
