/* Training works: a small FNO learns the voltage of a passive RC membrane
 * (tau dV/dt = -(V - E_L) + R I, tau = 10 ms, R = 0.1 GOhm) driven by random
 * current steps, from relative L2 near 1 to below 0.08 on held-out traces,
 * in 600 AdamW steps of the relative L4 loss (learning rate 4e-3, cut by 0.4
 * twice). Also: the same seed
 * on the same device gives bit-identical parameters, and the step split as
 * data-parallel training splits it (docs/mpi.md: nm_model_backward,
 * nm_model_get_grads / nm_model_set_grads, nm_model_adamw_step) gives the
 * same bits as nm_model_train_step; the gradients of two halves of a batch
 * add up to the batch's. */
#include "nb_test.h"
#include "nm_models.h"

enum { N = 256, NTRAIN = 256, NTEST = 32, B = 16 };
static const double DT = 0.25, TAU = 10.0, R_GOHM = 0.1;

/* Current (pA, scaled by 1/100 for the network) and voltage (mV above
 * rest, scaled by 1/10) of one trace, integrated exactly per sample. */
static void make_trace(nm_rng *r, float *in, float *out)
{
    double I[N] = {0};
    int steps = 1 + (int)(nm_rng_uniform(r) * 3);
    for (int s = 0; s < steps; s++) {
        int on = (int)(nm_rng_uniform(r) * N * 0.8), len = 10 + (int)(nm_rng_uniform(r) * N * 0.5);
        double amp = (2.0 * nm_rng_uniform(r) - 1.0) * 100.0; /* pA */
        for (int n = on; n < on + len && n < N; n++)
            I[n] += amp;
    }
    const double a = exp(-DT / TAU);
    double v = 0;
    for (int n = 0; n < N; n++) {
        in[n] = (float)(I[n] / 100.0);
        out[n] = (float)(v / 10.0);
        v = v * a + (1.0 - a) * R_GOHM * I[n];
    }
}

static double rel_l2(nm_model *m, const float *x, const float *y, int count)
{
    float out[B * N];
    double total = 0;
    for (int at = 0; at < count; at += B) {
        if (nm_model_forward(m, x + at * N, B, out))
            return NAN;
        for (int b = 0; b < B; b++) {
            double num = 0, den = 0;
            for (int n = 0; n < N; n++) {
                double d = out[b * N + n] - y[(at + b) * N + n];
                num += d * d;
                den += (double)y[(at + b) * N + n] * y[(at + b) * N + n];
            }
            total += sqrt(num / (den + 1e-12));
        }
    }
    return total / count;
}

static float *train(nb_context *ctx, int steps, int split, double *before, double *after)
{
    nm_config c = {.in_channels = 1, .out_channels = 1, .width = 16, .blocks = 2, .modes = 16, .length = N,
                   .lifting_channels = 32, .projection_channels = 32, .mlp_channels = 8, .grid = 1};
    static float xtr[NTRAIN * N], ytr[NTRAIN * N], xte[NTEST * N], yte[NTEST * N];
    nm_rng r;
    nm_rng_seed(&r, 2024);
    for (int i = 0; i < NTRAIN; i++)
        make_trace(&r, xtr + i * N, ytr + i * N);
    for (int i = 0; i < NTEST; i++)
        make_trace(&r, xte + i * N, yte + i * N);
    nm_model *m;
    REQUIRE_OK(nm_model_create(ctx, &c, B, 1, &m));
    float *p = malloc(nm_param_count(&c) * 4);
    nm_params_init(&c, 7, p);
    REQUIRE_OK(nm_model_set_params(m, p));
    *before = rel_l2(m, xte, yte, NTEST);
    nm_adamw opt;
    nm_adamw_default(&opt);
    double loss = 0;
    for (int step = 1; step <= steps; step++) {
        int at = ((step - 1) * B) % NTRAIN;
        opt.lr = step <= steps / 2 ? 4e-3 : step <= steps * 3 / 4 ? 1.6e-3 : 6.4e-4; /* steps of 0.4, as NOBLE's plateau schedule */
        if (split) { /* the gradient through the host and back, then the step */
            static float g[1 << 20];
            if (nm_param_count(&c) > 1 << 20) {
                fprintf(stderr, "gradient buffer too small\n");
                exit(1);
            }
            REQUIRE_OK(nm_model_backward(m, xtr + at * N, ytr + at * N, B, 4, &loss));
            REQUIRE_OK(nm_model_get_grads(m, g));
            REQUIRE_OK(nm_model_set_grads(m, g));
            REQUIRE_OK(nm_model_adamw_step(m, &opt, (uint64_t)step));
        } else {
            REQUIRE_OK(nm_model_train_step(m, xtr + at * N, ytr + at * N, B, 4, &opt, (uint64_t)step, &loss));
        }
        if (step % 100 == 0)
            printf("  step %d: training L4 loss per trace %.4f\n", step, loss / B);
    }
    *after = rel_l2(m, xte, yte, NTEST);
    REQUIRE_OK(nm_model_get_params(m, p));
    nm_model_destroy(m);
    return p;
}

int main(void)
{
    nb_context *ctx = nbt_context();
    const int steps = 600;
    double before, after;
    float *p1 = train(ctx, steps, 0, &before, &after);
    printf("passive RC membrane: held-out relative L2 %.4f before, %.4f after %d steps\n", before, after, steps);
    CHECK(before > 0.5, "an untrained model should be far off (%.3f)", before);
    CHECK(after < 0.08, "held-out relative L2 %.4f, want < 0.08", after);

    /* Same seed, same device: the same bits. */
    double b2, a2;
    float *p2 = train(ctx, 20, 0, &b2, &a2);
    float *p3 = train(ctx, 20, 0, &b2, &a2);
    nm_config c = {.in_channels = 1, .out_channels = 1, .width = 16, .blocks = 2, .modes = 16, .length = N,
                   .lifting_channels = 32, .projection_channels = 32, .mlp_channels = 8, .grid = 1};
    CHECK(memcmp(p2, p3, nm_param_count(&c) * 4) == 0, "two runs with the same seed differ");
    float *p4 = train(ctx, 20, 1, &b2, &a2);
    CHECK(memcmp(p2, p4, nm_param_count(&c) * 4) == 0,
          "backward + get/set_grads + adamw_step differs from train_step");
    free(p4);

    /* The data-parallel identity: the gradient of a batch is the sum of its
     * halves' (the loss is a sum over traces), to float rounding. */
    {
        const uint64_t P = nm_param_count(&c);
        static float x[B * N], y[B * N];
        nm_rng r;
        nm_rng_seed(&r, 99);
        for (int i = 0; i < B; i++)
            make_trace(&r, x + i * N, y + i * N);
        nm_model *m;
        REQUIRE_OK(nm_model_create(ctx, &c, B, 1, &m));
        float *w = malloc(P * 4), *g = malloc(P * 4), *h = malloc(P * 4);
        if (!w || !g || !h) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        nm_params_init(&c, 7, w);
        REQUIRE_OK(nm_model_set_params(m, w));
        double l, l1, l2;
        REQUIRE_OK(nm_model_backward(m, x, y, B, 4, &l));
        REQUIRE_OK(nm_model_get_grads(m, g));
        REQUIRE_OK(nm_model_backward(m, x, y, B / 2, 4, &l1));
        REQUIRE_OK(nm_model_get_grads(m, h));
        for (uint64_t i = 0; i < P; i++)
            w[i] = h[i];
        REQUIRE_OK(nm_model_backward(m, x + B / 2 * N, y + B / 2 * N, B / 2, 4, &l2));
        REQUIRE_OK(nm_model_get_grads(m, h));
        double gmax = 0, dmax = 0;
        for (uint64_t i = 0; i < P; i++) {
            gmax = fmax(gmax, fabs(g[i]));
            dmax = fmax(dmax, fabs((double)w[i] + h[i] - g[i]));
        }
        printf("halves: loss %.9g + %.9g vs %.9g, gradient difference %.3g of %.3g\n", l1, l2, l, dmax, gmax);
        CHECK(fabs(l1 + l2 - l) <= 1e-6 * l, "the halves' losses %.9g + %.9g, the batch's %.9g", l1, l2, l);
        CHECK(gmax > 0 && dmax <= 1e-5 * gmax, "the halves' gradients add to %.3g off the batch's (max %.3g)", dmax,
              gmax);
        /* errors */
        g[3] = NAN;
        CHECK(nm_model_set_grads(m, g) == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "not finite"),
              "a NaN gradient is refused");
        nm_adamw opt;
        nm_adamw_default(&opt);
        CHECK(nm_model_adamw_step(m, &opt, 0) == NB_ERR_INVALID_ARGUMENT, "step 0 is refused");
        CHECK(nm_model_adamw_step(m, NULL, 1) == NB_ERR_INVALID_ARGUMENT, "AdamW without options is refused");
        nm_model_destroy(m);
        free(w);
        free(g);
        free(h);
    }
    free(p1);
    free(p2);
    free(p3);
    return nbt_finish(ctx);
}
