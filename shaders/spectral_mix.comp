#version 450
// Complex mixing of the lowest M modes, between the R2C and the C2R of a
// spectral convolution. Writes bins k < M of the C2R input; the caller
// zero-fills the buffer first (vkCmdFillBuffer), as the C2R consumes it.
// Forward (default): spectrum F = R2C(x), unnormalised:
//   Y[b][o][k] = (1/N) sum_i F[b][i][k] W[i][o][k]     (k < M; Im Y[.][.][0] = 0)
//   and S[b][i][k] = F[b][i][k] / N is kept for the weight gradient.
// BACKWARD: spectrum F = R2C(dL/ds); the adjoint up to the C2R:
//   Y[b][i][k] = (1/N) sum_o F'[b][o][k] conj(W[i][o][k]),  F'_0 = Re F_0, F'_k = F_k
//   (the factor 2 that Hermitian symmetry gives bins 1..N/2-1 in the gradient
//   of the spectrum and the 1/2 of the C2R that maps it back cancel).
// One invocation per (mode k, group of BG traces), flattened so that the
// M modes fill the workgroups: it holds the group's C input coefficients
// at k and loads each weight once for all BG traces (against one
// invocation per (k, output, trace), which reloaded the inputs for every
// output and the weights for every trace).
// Defines: C (channels), M (modes), BG (traces per invocation), BACKWARD;
// TEXEL (0/1: params and F read as texels, loads.glsl; w_off must be even).
// Bindings: 0 params (read; W at w_off as [C][C][M] complex), 1 F (read),
// 2 Y (write), 3 S (write; forward only).
// Push: batch, nc (= N/2 + 1), inv_n (1/N as float bits), w_off.
#include "loads.glsl"
layout(local_size_x = 64) in;
#if TEXEL
CXIN(0, Pa, prmc);
#define WGT(w) LDC(prmc, (w) >> 1)
#else
layout(std430, binding = 0) readonly buffer Pa { float prm[]; };
#define WGT(w) vec2(prm[w], prm[(w) + 1])
#endif
CXIN(1, F, f);
layout(std430, binding = 2) writeonly buffer Yb { vec2 y[]; };
#if !BACKWARD
layout(std430, binding = 3) writeonly buffer Sb { vec2 s[]; };
#endif
layout(push_constant) uniform P { uint batch; uint nc; float inv_n; uint w_off; } p;

void main()
{
    uint id = gl_GlobalInvocationID.x, k = id % M, b0 = (id / M) * BG;
    if (b0 >= p.batch)
        return;
    uint nb = min(BG, p.batch - b0);
    vec2 fv[BG][C];
    for (uint t = 0; t < BG; t++)
        for (uint j = 0; j < C; j++) {
            vec2 v = t < nb ? LDC(f, ((b0 + t) * C + j) * p.nc + k) : vec2(0.0);
#if BACKWARD
            if (k == 0)
                v.y = 0.0;
#else
            if (t < nb)
                s[((b0 + t) * C + j) * M + k] = v * p.inv_n;
#endif
            fv[t][j] = v;
        }
    for (uint c = 0; c < C; c++) {
        vec2 acc[BG];
        for (uint t = 0; t < BG; t++)
            acc[t] = vec2(0.0);
        for (uint j = 0; j < C; j++) {
#if BACKWARD
            uint w = p.w_off + ((c * C + j) * M + k) * 2; // W[i = c][o = j][k]
            vec2 wv = WGT(w) * vec2(1.0, -1.0);           // conj
#else
            uint w = p.w_off + ((j * C + c) * M + k) * 2; // W[i = j][o = c][k]
            vec2 wv = WGT(w);
#endif
            for (uint t = 0; t < BG; t++) {
                vec2 v = fv[t][j];
                acc[t] += vec2(v.x * wv.x - v.y * wv.y, v.x * wv.y + v.y * wv.x);
            }
        }
        for (uint t = 0; t < nb; t++) {
            vec2 a = acc[t] * p.inv_n;
            if (k == 0)
                a.y = 0.0;
            y[((b0 + t) * C + c) * p.nc + k] = a;
        }
    }
}
