// Loads for kernels that read four positions per invocation (vec4 along
// the length) or complex values, from a storage buffer or as texels; no
// other include needed.
#ifndef NB_LOADS_GLSL
#define NB_LOADS_GLSL
#define VEC 4
#define VT vec4
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
#endif
