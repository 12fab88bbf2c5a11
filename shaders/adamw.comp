#version 450
// One AdamW step over the flat parameter buffer, as torch.optim.AdamW:
//   p *= 1 - lr wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//   p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)
// with bc1 = 1 - b1^t, bc2 = 1 - b2^t, 1 - b1 and 1 - b2 computed on the host
// in double (1 - 0.999f in fp32 is off by 1.3e-5 relative).
// Bindings: 0 params (read-write), 1 grad (read), 2 m (read-write), 3 v (read-write).
// Push: n, beta1, beta2, 1 - beta1, 1 - beta2, eps, decay (= 1 - lr wd),
// step_size (= lr / bc1), inv_sqrt_bc2.
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer Pa { float prm[]; };
layout(std430, binding = 1) readonly buffer G { float g[]; };
layout(std430, binding = 2) buffer Mb { float m[]; };
layout(std430, binding = 3) buffer Vb { float v[]; };
layout(push_constant) uniform P { uint n; float beta1; float beta2; float omb1; float omb2; float eps; float decay; float step_size; float inv_sqrt_bc2; } p;

void main()
{
    uint i = gl_GlobalInvocationID.y * 65535u * 256u + gl_GlobalInvocationID.x;
    if (i >= p.n)
        return;
    float gi = g[i];
    float mi = fma(p.beta1, m[i], p.omb1 * gi);
    float vi = fma(p.beta2, v[i], p.omb2 * gi * gi);
    m[i] = mi;
    v[i] = vi;
    float denom = sqrt(vi) * p.inv_sqrt_bc2 + p.eps;
    prm[i] = prm[i] * p.decay - p.step_size * mi / denom;
}
