#version 450
// Arithmetic ceiling: each invocation runs ITERS rounds of 8 independent
// vec4 FMA chains (32 FMA = 64 flop per round) in registers and writes one
// value so the compiler cannot drop the work.
// Binding: 0 out (write). Push: iters, seed.
layout(local_size_x_id = 0) in;
layout(std430, set = 0, binding = 0) writeonly buffer O { float o[]; };
layout(push_constant) uniform P { uint iters; float seed; } p;

void main()
{
    float f = p.seed + float(gl_GlobalInvocationID.x) * 1e-9;
    vec4 a0 = vec4(f), a1 = vec4(f + 1.0), a2 = vec4(f + 2.0), a3 = vec4(f + 3.0);
    vec4 a4 = vec4(f + 4.0), a5 = vec4(f + 5.0), a6 = vec4(f + 6.0), a7 = vec4(f + 7.0);
    const vec4 m = vec4(0.999999), c = vec4(1e-7);
    for (uint k = 0; k < p.iters; k++) {
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
        a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    }
    vec4 s = (a0 + a1) + (a2 + a3) + (a4 + a5) + (a6 + a7);
    o[gl_GlobalInvocationID.x] = s.x + s.y + s.z + s.w;
}
