// Exact (erf) GELU and its derivative in fp32, shared by the kernels that
// fuse an activation.
//
// erf(x) = x P(x^2) / Q(x^2) on |x| <= 3.9 (P and Q of degree 5; beyond,
// erf is within 4e-8 of +-1 and the argument is clamped). The coefficients
// are this project's own fit (Lawson-weighted least squares on the absolute
// error; shaders/erf_fit.py re-derives them): absolute error 1.5e-8 in exact
// arithmetic, 3.8e-7 in fp32 (the Abramowitz & Stegun 7.1.26 form it
// replaces: 5.4e-7 in fp32). It needs no exp and no branch, only FMAs and
// one division. (On lavapipe the GELU kernels measured the same with
// either form: their loads and stores cost more than the arithmetic.)
float nb_erf(float x)
{
    float c = clamp(x, -3.9, 3.9), t = c * c;
    float p = fma(fma(fma(fma(fma(2.050117018e-06, t, 2.874248312e-04), t, 3.836497199e-03), t, 5.296566710e-02), t,
                      1.919354051e-01), t, 1.128378987e+00);
    float q = fma(fma(fma(fma(fma(3.822624421e-05, t, 1.181598054e-03), t, 1.510846429e-02), t, 1.147554219e-01), t,
                      5.034301281e-01), t, 1.0);
    return c * p / q;
}

float nb_gelu(float x) { return 0.5 * x * (1.0 + nb_erf(x * 0.70710678118654752)); }

float nb_gelu_grad(float x)
{
    return 0.5 * (1.0 + nb_erf(x * 0.70710678118654752)) + x * exp(-0.5 * x * x) * 0.39894228040143268;
}

// GELU and its derivative at once, sharing the erf.
void nb_gelu_both(float x, out float v, out float d)
{
    float h = 0.5 * (1.0 + nb_erf(x * 0.70710678118654752));
    v = x * h;
    d = h + x * exp(-0.5 * x * x) * 0.39894228040143268;
}
