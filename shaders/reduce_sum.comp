#version 450
// Partial sums: workgroup g writes the sum of its slice of x to out[g].
// Each invocation accumulates a strided part of the slice, then the
// workgroup combines them in shared memory. Run it twice (x -> partials ->
// total) for a full reduction.
// Bindings: 0 x (read), 1 out (write). Push: n, per_group (elements per workgroup).
// Define WG: workgroup size, a power of two (default 256).
#ifndef WG
#define WG 256
#endif
layout(local_size_x = WG) in;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer O { float o[]; };
layout(push_constant) uniform P { uint n; uint per_group; } p;

shared float s[WG];

void main()
{
    uint lid = gl_LocalInvocationID.x;
    uint begin = gl_WorkGroupID.x * p.per_group;
    uint end = min(begin + p.per_group, p.n);
    float acc = 0.0;
    float comp = 0.0; // Kahan compensation: keeps long slices accurate
    for (uint i = begin + lid; i < end; i += WG) {
        float yk = x[i] - comp;
        float t = acc + yk;
        comp = (t - acc) - yk;
        acc = t;
    }
    s[lid] = acc;
    barrier();
    for (uint w = WG / 2; w > 0; w >>= 1) {
        if (lid < w)
            s[lid] += s[lid + w];
        barrier();
    }
    if (lid == 0)
        o[gl_WorkGroupID.x] = s[0];
}
