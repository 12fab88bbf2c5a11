// A pointwise layer's weights, read as WT(index), from one of two places:
//   UBO = 1: a uniform buffer holding just this layer, laid out [W | bias |
//            gate] (W as [COUT][CIN]); offsets are compile-time, so every
//            read is a constant offset into a uniform block.
//   UBO = 0: the flat parameter buffer, at the push constants' offsets.
// Used by linear_bwd_x. Needs CIN, COUT, BIAS (0/1) defined, and a push
// block p with w_off (and b_off, g_off where a kernel reads them).
#ifndef UBO
#define UBO 0
#endif
#ifndef BIAS
#define BIAS 0
#endif
#if UBO
layout(std140, binding = 0) uniform Wt { vec4 w4[(COUT * CIN + 2 * COUT + 3) / 4]; };
#define WT(i) (w4[(i) >> 2][(i) & 3])
#define W_OFF 0u
#define B_OFF (uint(COUT * CIN))
#define G_OFF (uint(COUT * CIN + BIAS * COUT))
#else
layout(std430, binding = 0) readonly buffer Pa { float prm[]; };
#define WT(i) (prm[i])
#define W_OFF p.w_off
#ifndef B_OFF_UNUSED
#define B_OFF p.b_off
#endif
#define G_OFF p.g_off
#endif
