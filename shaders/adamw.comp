#version 450
// One AdamW step over the flat parameter buffer, as torch.optim.AdamW:
//   p *= 1 - lr wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//   p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)
// with bc1 = 1 - b1^t, bc2 = 1 - b2^t, 1 - b1 and 1 - b2 computed on the host
// in double (1 - 0.999f in fp32 is off by 1.3e-5 relative).
// Four parameters per invocation (vec4), ceil(n / 4) invocations: the
// runtime makes every buffer a whole number of vec4 long, and what lies past
// n is padding no one reads.
// Define TEXEL (0/1): grad read as texels (loads.glsl).
// Bindings: 0 params (read-write), 1 grad (read), 2 m (read-write), 3 v (read-write).
// Push: n, beta1, beta2, 1 - beta1, 1 - beta2, eps, decay (= 1 - lr wd),
// step_size (= lr / bc1), inv_sqrt_bc2.
#include "loads.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer Pa { vec4 prm[]; };
VIN(1, G, g);
layout(std430, binding = 2) buffer Mb { vec4 m[]; };
layout(std430, binding = 3) buffer Vb { vec4 v[]; };
layout(push_constant) uniform P { uint n; float beta1; float beta2; float omb1; float omb2; float eps; float decay; float step_size; float inv_sqrt_bc2; } p;

void main()
{
    uint i = gl_GlobalInvocationID.y * 65535u * 256u + gl_GlobalInvocationID.x;
    if (i >= (p.n + 3u) / 4u)
        return;
    vec4 gi = LDV(g, i);
    vec4 mi = fma(vec4(p.beta1), m[i], p.omb1 * gi);
    vec4 vi = fma(vec4(p.beta2), v[i], p.omb2 * gi * gi);
    m[i] = mi;
    v[i] = vi;
    vec4 denom = sqrt(vi) * p.inv_sqrt_bc2 + p.eps;
    prm[i] = prm[i] * p.decay - p.step_size * mi / denom;
}
