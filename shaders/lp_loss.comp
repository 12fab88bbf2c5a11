#version 450
// Relative Lp loss per trace, l_b = (sum |yhat - y|^p / sum |y|^p)^(1/p),
// p = 2 or 4 (define P), in three passes selected by PASS:
//   1: workgroup (chunk c, trace b) writes partial sums (num, den) of its chunk
//   2: one invocation per trace adds its chunks in order and writes
//      stats[b] = (l_b, l_b / ratio / den): the loss and the gradient factor
//   3: grad[b][i] = factor_b * |d|^(p-2) d,  d = yhat - y
// Bindings: 0 yhat (read), 1 y (read), 2 partials (read-write), 3 stats
// (read-write), 4 grad (write; pass 3). Push: batch, per_trace, chunks, chunk.
// WG: the workgroup size, a power of two from 2 to 1024 (default 64; pass 1
// holds WG vec2 in shared memory, 8 WG bytes); passes 2 and 3 take
// ceil(n / WG) groups. tests/test_ops.c runs it at 8, 16, 32 and 64.
#ifndef WG
#define WG 64
#endif
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer Yh { float yh[]; };
layout(std430, binding = 1) readonly buffer Yt { float yt[]; };
layout(std430, binding = 2) buffer Pt { vec2 part[]; };
layout(std430, binding = 3) buffer St { vec2 stats[]; };
#if PASS == 3
layout(std430, binding = 4) writeonly buffer Gd { float grad[]; };
#endif
layout(push_constant) uniform Pc { uint batch; uint per; uint chunks; uint chunk; } p;

#if PASS == 1
shared vec2 red[WG];
#endif

float powp(float v)
{
#if P == 4
    float v2 = v * v;
    return v2 * v2;
#else
    return v * v;
#endif
}

void main()
{
#if PASS == 1
    uint lid = gl_LocalInvocationID.x, c = gl_WorkGroupID.x, b = gl_WorkGroupID.y;
    uint begin = c * p.chunk, end = min(begin + p.chunk, p.per);
    vec2 acc = vec2(0.0);
    for (uint i = begin + lid; i < end; i += WG) {
        float t = yt[b * p.per + i], d = yh[b * p.per + i] - t;
        acc += vec2(powp(d), powp(t));
    }
    red[lid] = acc;
    barrier();
    for (uint w = WG / 2; w > 0; w >>= 1) {
        if (lid < w)
            red[lid] += red[lid + w];
        barrier();
    }
    if (lid == 0)
        part[b * p.chunks + c] = red[0];
#elif PASS == 2
    uint b = gl_GlobalInvocationID.x;
    if (b >= p.batch)
        return;
    vec2 s = vec2(0.0);
    for (uint c = 0; c < p.chunks; c++)
        s += part[b * p.chunks + c];
    float ratio = s.x / s.y;
#if P == 4
    float l = sqrt(sqrt(ratio));
#else
    float l = sqrt(ratio);
#endif
    stats[b] = vec2(l, s.x > 0.0 ? l / ratio / s.y : 0.0);
#else
    uint i = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (i >= p.per)
        return;
    float d = yh[b * p.per + i] - yt[b * p.per + i];
#if P == 4
    grad[b * p.per + i] = stats[b].y * d * d * d;
#else
    grad[b * p.per + i] = stats[b].y * d;
#endif
#endif
}
