// Exact (erf) GELU and its derivative in fp32, shared by the kernels that
// fuse an activation. erf follows Abramowitz & Stegun 7.1.26 (absolute
// error below 1.5e-7), odd-extended to negative arguments.
float nb_erf(float x)
{
    float a = abs(x);
    float t = 1.0 / (1.0 + 0.3275911 * a);
    float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    float e = 1.0 - poly * exp(-a * a);
    return x < 0.0 ? -e : e;
}

float nb_gelu(float x) { return 0.5 * x * (1.0 + nb_erf(x * 0.70710678118654752)); }

float nb_gelu_grad(float x)
{
    return 0.5 * (1.0 + nb_erf(x * 0.70710678118654752)) + x * exp(-0.5 * x * x) * 0.39894228040143268;
}
