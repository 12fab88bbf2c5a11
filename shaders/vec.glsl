// Helpers for kernels that handle four positions per invocation (vec4
// along the length): each weight load then feeds four FMAs. Measured on
// lavapipe (NOBLE preset, N = 8580, batch 4): twice as fast as one position
// per invocation. Needs gelu.glsl.
#define VEC 4
#define VT vec4
VT gelu_v(VT v) { return vec4(nb_gelu(v.x), nb_gelu(v.y), nb_gelu(v.z), nb_gelu(v.w)); }
VT gelu_grad_v(VT v) { return vec4(nb_gelu_grad(v.x), nb_gelu_grad(v.y), nb_gelu_grad(v.z), nb_gelu_grad(v.w)); }
void gelu_both_v(VT x, out VT v, out VT d)
{
    for (int c = 0; c < 4; c++) {
        float vc, dc;
        nb_gelu_both(x[c], vc, dc);
        v[c] = vc;
        d[c] = dc;
    }
}
float hsum(VT v) { return dot(v, vec4(1.0)); }

// Large inputs: VIN(binding, block, name) declares one and LDV(name, i)
// reads its i-th vec4. TEXEL = 1 reads them as texels of a uniform texel
// buffer (nb_access NB_TEXEL), TEXEL = 0 from a storage buffer. On lavapipe
// a texel fetch is one vector gather, where a storage-buffer load loops over
// the lanes one by one; docs/benchmarks.md has the measurements.
#ifndef TEXEL
#define TEXEL 0
#endif
#if TEXEL
#define VIN(bd, blk, name) layout(binding = bd) uniform samplerBuffer name
#define LDV(name, i) texelFetch(name, int(i))
#else
#define VIN(bd, blk, name) layout(std430, binding = bd) readonly buffer blk { VT name[]; }
#define LDV(name, i) name[i]
#endif
// Complex inputs, the same way: CXIN declares a buffer of vec2 and LDC(name, i)
// reads its i-th complex value; as texels, two complex values share one.
#if TEXEL
#define CXIN(bd, blk, name) layout(binding = bd) uniform samplerBuffer name
vec2 nb_half(vec4 q, uint i) { return (i & 1u) != 0u ? q.zw : q.xy; }
#define LDC(name, i) nb_half(texelFetch(name, int((i) >> 1)), (i))
#else
#define CXIN(bd, blk, name) layout(std430, binding = bd) readonly buffer blk { vec2 name[]; }
#define LDC(name, i) name[i]
#endif
