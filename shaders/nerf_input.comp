#version 450
// NOBLE's input channels (models/embedding.c, docs/operator.md): channel 0
// the current / current_scale, then sin and cos of 2 pi c for each of NW
// frequencies, c = w * n cycles at sample n, then the grid channel n / N
// when GRID is 1.
// The host gives w per trace and frequency computed in double and split in
// three floats (nm_embed_cycles): the first two have so few significant
// bits that their products with n are exact in fp32, so their whole cycles
// drop out exactly, and the third is small. sin and cos then see an
// argument in [-pi, pi] that is right to fp32 rounding.
// Defines NW, GRID. Bindings: 0 current [B][N] (pA), 1 w [B][NW] vec4,
// 2 out [B][1 + 2 NW + GRID][N]. Push: batch, n, 1 / current_scale.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Cur { float cur[]; };
layout(std430, binding = 1) readonly buffer W { vec4 w[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform P { uint batch; uint n; float inv_scale; } p;

void main()
{
    uint i = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (i >= p.n)
        return;
    const uint C = 1 + 2 * NW + GRID;
    uint base = b * C * p.n + i;
    o[base] = cur[b * p.n + i] * p.inv_scale;
    float fi = float(i);
    for (uint k = 0; k < NW; k++) {
        vec4 wk = w[b * NW + k];
        float c1 = wk.x * fi, c2 = wk.y * fi; // exact
        float c = (c1 - round(c1)) + (c2 - round(c2)) + wk.z * fi;
        c -= round(c);
        float a = 6.28318530717958648 * c;
        o[base + (1 + 2 * k) * p.n] = sin(a);
        o[base + (2 + 2 * k) * p.n] = cos(a);
    }
#if GRID
    o[base + (1 + 2 * NW) * p.n] = fi / float(p.n);
#endif
}
