#version 450
// Parameter gradients of a pointwise linear layer, first pass: workgroup c
// sums over its chunk of positions (b, n) and writes PH rows of partials:
//   [COUT*CIN] sum g[b][o][n] x[b][i][n]   (weight)
//   [COUT]     sum g[b][o][n]              (bias, when BIAS)
//   [COUT]     sum g[b][o][n] gx[b][o][n]  (soft gate, when GATE)
// reduce_rows.comp then adds the rows in a fixed order (deterministic, no
// atomics).
// The weight is cut into TWO x TWI tiles of (o, i); a lane owns one tile and
// one phase of the chunk (every PH-th group of four positions, read as vec4:
// vec.glsl), so that small layers still fill the lanes. Row c*PH + ph
// holds phase ph. The lanes of the tiles at i = 0 also sum the bias and
// gate of their rows from the g they load anyway (a separate pass that
// read g again cost lavapipe as much as the weight itself). Larger tiles load g and x fewer times; DOT = 1 keeps one
// float per (o, i) (fed by dot() over the four positions) instead of a
// vec4, so a tile can cover a whole 24 x 24 layer: the model uses that on
// CPU devices, where loads cost more than spilled accumulators, and 8 x 8
// vec4 tiles (DOT = 0) on GPUs. The length and CHUNK are multiples of 4.
// XGELU: the layer's input is GELU of the x given (the channel MLP's first
// layer, whose input y = GELU(z) is not stored).
// Defines: CIN, COUT, BIAS, GATE, XGELU, TEXEL (0/1: g, x and gx read as texels,
// loads.glsl), CHUNK (positions per workgroup), TWO, TWI
// (tile sides), DOT (0/1), PH (phases, 1 to 64 / tiles: on a GPU the 64
// lanes; on a CPU device one SIMD width, since its lanes beyond run one
// after another anyway and every phase is one more row to reduce).
// Bindings: 0 g (read), 1 x (read), 2 partials (write), 3 gx (read, GATE).
// Push: batch, n.
// WG: the workgroup size (default 64; any size is correct, a lane loops over
// the tile-phases u = lid, lid + WG, ...). tests/test_ops.c runs it at 8, 16,
// 32 and 64.
#include "gelu.glsl"
#include "loads.glsl"
#include "vec.glsl"
#ifndef WG
#define WG 64
#endif
layout(local_size_x = WG) in;
VIN(0, Gr, g);
VIN(1, X, x);
layout(std430, binding = 2) writeonly buffer Pt { float part[]; };
#if GATE
VIN(3, GX, gxs);
#endif
layout(push_constant) uniform P { uint batch; uint n; } p;

#if DOT
#define AT float
#define ACC(acc, a, b) ((acc) + dot((a), (b)))
#define FIN(acc) (acc)
#else
#define AT VT
#define ACC(acc, a, b) fma((a), (b), (acc))
#define FIN(acc) hsum(acc)
#endif
const uint TO = (COUT + TWO - 1) / TWO, TI = (CIN + TWI - 1) / TWI, NTILES = TO * TI;
const uint ROW = COUT * CIN + (BIAS + GATE) * COUT;

void main()
{
    uint lid = gl_LocalInvocationID.x, c = gl_WorkGroupID.x;
    uint n4 = p.n / VEC, total = p.batch * n4;
    uint begin = c * (CHUNK / VEC), end = min(begin + CHUNK / VEC, total);
    for (uint u = lid; u < NTILES * PH; u += WG) {
        uint t = u % NTILES, ph = u / NTILES, row = (c * PH + ph) * ROW;
        uint o0 = (t / TI) * TWO, i0 = (t % TI) * TWI;
        AT acc[TWO][TWI];
        for (uint a = 0; a < TWO; a++)
            for (uint e = 0; e < TWI; e++)
                acc[a][e] = AT(0.0);
#if BIAS || GATE
        /* the tiles at i0 = 0 also sum the bias and gate of their rows, from
         * the g they load anyway */
        bool side = i0 == 0u;
        VT sb[TWO], sg[TWO];
        for (uint a = 0; a < TWO; a++) {
            sb[a] = VT(0.0);
            sg[a] = VT(0.0);
        }
#endif
        for (uint q = begin + ph; q < end; q += PH) {
            uint b = q / n4, r = q - b * n4;
            VT gv[TWO], xv[TWI];
            for (uint a = 0; a < TWO; a++)
                gv[a] = o0 + a < COUT ? LDV(g, (b * COUT + o0 + a) * n4 + r) : VT(0.0);
            for (uint e = 0; e < TWI; e++)
                xv[e] = i0 + e < CIN ? LDV(x, (b * CIN + i0 + e) * n4 + r) : VT(0.0);
#if XGELU
            for (uint e = 0; e < TWI; e++)
                xv[e] = gelu_v(xv[e]);
#endif
            for (uint a = 0; a < TWO; a++)
                for (uint e = 0; e < TWI; e++)
                    acc[a][e] = ACC(acc[a][e], gv[a], xv[e]);
#if BIAS || GATE
            if (side)
                for (uint a = 0; a < TWO; a++) {
                    sb[a] += gv[a];
#if GATE
                    if (o0 + a < COUT)
                        sg[a] = fma(gv[a], LDV(gxs, (b * COUT + o0 + a) * n4 + r), sg[a]);
#endif
                }
#endif
        }
        for (uint a = 0; a < TWO; a++)
            for (uint e = 0; e < TWI; e++)
                if (o0 + a < COUT && i0 + e < CIN)
                    part[row + (o0 + a) * CIN + i0 + e] = FIN(acc[a][e]);
#if BIAS || GATE
        if (side)
            for (uint a = 0; a < TWO && o0 + a < COUT; a++) {
#if BIAS
                part[row + COUT * CIN + o0 + a] = hsum(sb[a]);
#endif
#if GATE
                part[row + COUT * CIN + BIAS * COUT + o0 + a] = hsum(sg[a]);
#endif
            }
#endif
    }
}
