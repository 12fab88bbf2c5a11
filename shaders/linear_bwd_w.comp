#version 450
// Parameter gradients of a pointwise linear layer, first pass: workgroup c
// sums over its chunk of positions (b, n) and writes one row of partials:
//   [COUT*CIN] sum g[b][o][n] x[b][i][n]   (weight)
//   [COUT]     sum g[b][o][n]              (bias, when BIAS)
//   [COUT]     sum g[b][o][n] gx[b][o][n]  (soft gate, when GATE)
// reduce_rows.comp then adds the rows in a fixed order (deterministic, no
// atomics). Each invocation owns TWO x TWI tiles of (o, i) and reads four
// positions at a time as vec4 (vec.glsl; the length and CHUNK are multiples
// of 4). Larger tiles load less per FMA, until the accumulators spill.
// Defines: CIN, COUT, BIAS, GATE, CHUNK (positions per workgroup), TWO, TWI
// (tile sides, 4 by default).
// Bindings: 0 g (read), 1 x (read), 2 partials (write), 3 gx (read, GATE).
// Push: batch, n.
#include "gelu.glsl"
#include "vec.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Gr { VT g[]; };
layout(std430, binding = 1) readonly buffer X { VT x[]; };
layout(std430, binding = 2) writeonly buffer Pt { float part[]; };
#if GATE
layout(std430, binding = 3) readonly buffer GX { VT gxs[]; };
#endif
layout(push_constant) uniform P { uint batch; uint n; } p;

#ifndef TWO
#define TWO 4
#endif
#ifndef TWI
#define TWI 4
#endif
const uint TO = (COUT + TWO - 1) / TWO, TI = (CIN + TWI - 1) / TWI, NTILES = TO * TI;
const uint ROW = COUT * CIN + (BIAS + GATE) * COUT;

void main()
{
    uint lid = gl_LocalInvocationID.x, c = gl_WorkGroupID.x;
    uint n4 = p.n / VEC, total = p.batch * n4;
    uint begin = c * (CHUNK / VEC), end = min(begin + CHUNK / VEC, total);
    for (uint t = lid; t < NTILES; t += 64) {
        uint o0 = (t / TI) * TWO, i0 = (t % TI) * TWI;
        VT acc[TWO][TWI];
        for (uint a = 0; a < TWO; a++)
            for (uint e = 0; e < TWI; e++)
                acc[a][e] = VT(0.0);
        for (uint q = begin; q < end; q++) {
            uint b = q / n4, r = q - b * n4;
            VT gv[TWO], xv[TWI];
            for (uint a = 0; a < TWO; a++)
                gv[a] = o0 + a < COUT ? g[(b * COUT + o0 + a) * n4 + r] : VT(0.0);
            for (uint e = 0; e < TWI; e++)
                xv[e] = i0 + e < CIN ? x[(b * CIN + i0 + e) * n4 + r] : VT(0.0);
            for (uint a = 0; a < TWO; a++)
                for (uint e = 0; e < TWI; e++)
                    acc[a][e] = fma(gv[a], xv[e], acc[a][e]);
        }
        for (uint a = 0; a < TWO; a++)
            for (uint e = 0; e < TWI; e++)
                if (o0 + a < COUT && i0 + e < CIN)
                    part[c * ROW + (o0 + a) * CIN + i0 + e] = hsum(acc[a][e]);
    }
#if BIAS || GATE
    for (uint o = lid; o < COUT; o += 64) {
        VT sb = VT(0.0), sg = VT(0.0);
        for (uint q = begin; q < end; q++) {
            uint b = q / n4, r = q - b * n4;
            VT gv = g[(b * COUT + o) * n4 + r];
            sb += gv;
#if GATE
            sg = fma(gv, gxs[(b * COUT + o) * n4 + r], sg);
#endif
        }
#if BIAS
        part[c * ROW + COUT * CIN + o] = hsum(sb);
#endif
#if GATE
        part[c * ROW + COUT * CIN + BIAS * COUT + o] = hsum(sg);
#endif
    }
#endif
}
