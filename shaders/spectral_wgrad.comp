#version 450
// Weight gradient of a spectral convolution:
//   dW[i][o][k] = sum_b conj(S[b][i][k]) G'[b][o][k],
// with S the forward's scaled input spectrum (modes only) and G' the
// gradient of the mixed spectrum: G'_0 = Re G_0 and G'_k = 2 G_k for k >= 1,
// G = R2C(dL/ds) unnormalised (the 2 is Hermitian symmetry's).
// One invocation per (mode k, group of IG inputs i), flattened so that the
// M modes fill the workgroups: per trace it loads its IG values of S and
// the C values of G at k once, and keeps the IG x C sums (against one
// invocation per (k, o, i), which loaded both for every output).
// Defines: C, M, IG (inputs per invocation; divides C); TEXEL (0/1: S and G
// read as texels, loads.glsl).
// Bindings: 0 S (read), 1 G (read, full half-spectrum), 2 grad (read-write:
// added to, at w_off). Push: batch, nc, w_off.
#include "loads.glsl"
layout(local_size_x = 64) in;
CXIN(0, Sb, s);
CXIN(1, Gb, g);
layout(std430, binding = 2) buffer D { float grad[]; };
layout(push_constant) uniform P { uint batch; uint nc; uint w_off; } p;

void main()
{
    uint id = gl_GlobalInvocationID.x, k = id % M, i0 = (id / M) * IG;
    if (i0 >= C)
        return;
    vec2 acc[IG][C];
    for (uint a = 0; a < IG; a++)
        for (uint o = 0; o < C; o++)
            acc[a][o] = vec2(0.0);
    for (uint b = 0; b < p.batch; b++) {
        vec2 sv[IG];
        for (uint a = 0; a < IG; a++)
            sv[a] = LDC(s, (b * C + i0 + a) * M + k);
        for (uint o = 0; o < C; o++) {
            vec2 gv = LDC(g, (b * C + o) * p.nc + k);
            gv = k == 0 ? vec2(gv.x, 0.0) : 2.0 * gv;
            for (uint a = 0; a < IG; a++) // conj(s) g
                acc[a][o] += vec2(sv[a].x * gv.x + sv[a].y * gv.y, sv[a].x * gv.y - sv[a].y * gv.x);
        }
    }
    for (uint a = 0; a < IG; a++)
        for (uint o = 0; o < C; o++) {
            uint w = p.w_off + (((i0 + a) * C + o) * M + k) * 2;
            grad[w] += acc[a][o].x;
            grad[w + 1] += acc[a][o].y;
        }
}
