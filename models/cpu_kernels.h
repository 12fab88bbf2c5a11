/* cpu_kernels.h - the CPU backend's C twins of the operator's GLSL kernels
 * (shaders/<name>.comp), registered with the runtime by name. Internal to
 * models/; the public entry is nm_cpu_kernels_register() in nm_models.h.
 *
 * Each kernel takes the GLSL kernel's defines (nb_cpu_define), bindings in
 * the same order, and push constants of the same layout, and gives the same
 * results to float rounding. Work is split with nb_cpu_parallel over tasks
 * whose outputs are disjoint, so results do not depend on scheduling. */
#ifndef NM_CPU_KERNELS_H
#define NM_CPU_KERNELS_H

#include "nb_runtime.h"

/* cpu_pointwise.c: mlp_fwd, mlp_bwd, block_fwd, block_bwd, linear_bwd_x, grid, nerf_input */
nb_status nm__cpu_register_pointwise(void);
/* cpu_grad.c: linear_bwd_w, reduce_rows, spectral_mix, spectral_wgrad, lp_loss, adamw, ewise */
nb_status nm__cpu_register_grad(void);

#endif
