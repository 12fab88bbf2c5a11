/* One training step at the sizes the project runs, against the double-
 * precision CPU reference: every gradient tensor, the loss, and the
 * parameters after AdamW. These sizes are where lavapipe's loop cap bit
 * (../docs/operator.md, "The loop cap"): per-invocation loops that grow with
 * batch x length stopped silently, and one weight gradient came out 100-170%
 * wrong at the pretrained configuration's batch and length while every small
 * test passed.
 *
 * The configurations, each with its real batch and length (the NOBLE input:
 * the current and 22 embedding channels, plus the grid):
 *   quickstart  width 8, 2 blocks, 32 modes, lifting 16, projection 32,
 *               channel MLP 4; stride 4: N 2112; batch 16 (quickstart.sh)
 *   pretrained  width 16, 4 blocks, 64 modes, lifting 32, projection 64,
 *               channel MLP 8; stride 2: N 4224; batch 16 (docs/results.md)
 *   published   the `noble` preset (1,803,001 parameters); N 8580; batch 64
 * The reference runs one trace at a time and adds the gradients (the loss is
 * a sum over traces), so its memory stays that of one trace.
 *
 * Tolerances as in test_operator: each tensor's gradient within 2e-3 of its
 * largest magnitude, the loss within 1e-5 relative, parameters after one
 * AdamW step within 1e-6 (lr 4e-3). A weight gradient summed over a
 * truncated loop is off by tens of percent: far outside them.
 *
 * Each configuration runs on every backend present (the Vulkan device of the
 * test environment and the native CPU backend) against one reference.
 * NOBLE_REALSIZE=name runs one configuration only. */
#include "nb_test.h"
#include "nm_models.h"

#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

typedef struct realsize {
    const char *name;
    nm_config c;
    uint32_t batch;
} realsize;

/* NOBLE-like inputs: a step current (pA / current scale) and sin/cos
 * channels at the NeRF's frequencies of a per-trace code; targets shaped
 * like a spiking trace in V/100 units. */
static void inputs(const nm_config *c, uint32_t B, uint64_t seed, float *x, float *t)
{
    const uint32_t N = c->length;
    uint64_t s = seed;
    for (uint32_t b = 0; b < B; b++) {
        const double amp = -0.4 + 1.4 * (b + 0.5) / B, code = 0.5 + 3.0 * (nbt_rand(&s) * 0.5 + 0.5);
        for (uint32_t ch = 0; ch < c->in_channels; ch++)
            for (uint32_t n = 0; n < N; n++) {
                const double tt = 2.0 * M_PI * n / (N - 1);
                double v;
                if (ch == 0)
                    v = (n >= N / 34 && n < N * 27 / 34) ? amp : 0.0;
                else {
                    const uint32_t k = (ch - 1) / 2;
                    const double f = ldexp(1.0, (int)(k % 9)) * M_PI * (k < 9 ? amp : code + 0.1 * k);
                    v = (ch - 1) % 2 ? cos(f * tt) : sin(f * tt);
                }
                x[((uint64_t)b * c->in_channels + ch) * N + n] = (float)v;
            }
        for (uint32_t n = 0; n < N; n++) {
            double v = -0.7 + 0.05 * amp * (n > N / 34);
            if (amp > 0.2 && n > N / 34 && n < N * 27 / 34) /* spikes every ~7 ms of 0.06 ms samples */
                v += 0.9 * exp(-0.5 * pow(fmod((double)n, 120.0 * (2112.0 / N) * 2.0) - 20.0, 2.0) / 4.0);
            t[(uint64_t)b * N + n] = (float)(v + 0.01 * nbt_rand(&s));
        }
    }
}

/* One AdamW step of z on ctx; its gradient and parameters after the step. */
static void device_step(nb_context *ctx, const realsize *z, const float *pf, const float *x, const float *t,
                        float *gf, float *pa, double *loss, double *secs)
{
    const double t0 = now_s();
    nm_model *m;
    REQUIRE_OK(nm_model_create(ctx, &z->c, z->batch, 1, &m));
    REQUIRE_OK(nm_model_set_params(m, pf));
    nm_adamw opt;
    nm_adamw_default(&opt);
    REQUIRE_OK(nm_model_train_step(m, x, t, z->batch, 4, &opt, 1, loss));
    REQUIRE_OK(nm_model_get_grads(m, gf));
    REQUIRE_OK(nm_model_get_params(m, pa));
    nm_model_destroy(m);
    *secs = now_s() - t0;
}

static void one_step(nb_context *const *ctxs, uint32_t nctx, const realsize *z)
{
    const nm_config *c = &z->c;
    const uint32_t B = z->batch, N = c->length;
    const uint64_t P = nm_param_count(c), nx = (uint64_t)c->in_channels * N, ny = (uint64_t)c->out_channels * N;
    float *pf = malloc(P * 4), *gf = malloc(P * 4), *pa = malloc(P * 4), *x = malloc(B * nx * 4),
          *t = malloc(B * ny * 4);
    double *p = malloc(P * 8), *g = calloc(P, 8), *m1 = calloc(P, 8), *m2 = calloc(P, 8), *xd = malloc(nx * 8),
           *td = malloc(ny * 8), *yd = malloc(ny * 8), *gy = malloc(ny * 8);
    nm_params_init(c, 5, pf);
    uint64_t s = 77;
    for (uint64_t i = 0; i < P; i++) {
        pf[i] += (float)(0.02 * nbt_rand(&s));
        p[i] = pf[i];
    }
    inputs(c, B, 9, x, t);

    /* the reference, a trace at a time */
    double t1 = now_s(), ref_loss = 0;
    nm_ref *ref;
    REQUIRE_OK(nm_ref_create(c, 1, &ref));
    nm_ref_set_params(ref, p);
    for (uint32_t b = 0; b < B; b++) {
        for (uint64_t i = 0; i < nx; i++)
            xd[i] = x[b * nx + i];
        for (uint64_t i = 0; i < ny; i++)
            td[i] = t[b * ny + i];
        nm_ref_forward(ref, xd, 1, yd);
        ref_loss += nm_ref_lp_loss(yd, td, 1, ny, 4, gy);
        nm_ref_backward(ref, gy, g, NULL);
    }
    nm_ref_destroy(ref);
    const double tref = now_s() - t1;
    nm_adamw opt;
    nm_adamw_default(&opt);
    double *pref = malloc(P * 8);
    memcpy(pref, p, P * 8);
    nm_ref_adamw(&opt, 1, P, pref, g, m1, m2);

    nm_param tab[8 + 8 * 64 + 8];
    uint32_t nt = nm_param_table(c, tab, sizeof tab / sizeof *tab);
    for (uint32_t k = 0; k < nctx; k++) {
        const char *be = nb_backend_name(nb_context_backend(ctxs[k]));
        double loss = 0, secs = 0;
        device_step(ctxs[k], z, pf, x, t, gf, pa, &loss, &secs);
        double worst = 0;
        const char *worst_name = "";
        int bad = 0;
        for (uint32_t q = 0; q < nt; q++) {
            double gmax = 0, e = 0;
            for (uint64_t i = tab[q].offset; i < tab[q].offset + tab[q].count; i++) {
                gmax = fmax(gmax, fabs(g[i]));
                e = fmax(e, fabs(gf[i] - g[i]));
            }
            const double rel = e / (gmax + 1e-30);
            if (rel > 2e-3) {
                printf("  %s on %s: gradient of %s off by %.3g of its largest entry %.3g\n", z->name, be, tab[q].name,
                       rel, gmax);
                bad++;
            }
            if (rel > worst) {
                worst = rel;
                worst_name = tab[q].name;
            }
        }
        double perr = 0;
        for (uint64_t i = 0; i < P; i++)
            perr = fmax(perr, fabs(pa[i] - pref[i]));
        printf("%s on %s: %llu parameters, batch %u, N %u: loss %.8f vs %.8f; largest gradient error %.2e of its "
               "tensor's largest entry (%s); parameters after AdamW within %.2e (device %.1f s, reference %.1f s)\n",
               z->name, be, (unsigned long long)P, B, N, loss, ref_loss, worst, worst_name, perr, secs, tref);
        CHECK(fabs(loss - ref_loss) <= 1e-5 * fabs(ref_loss), "%s on %s: loss %.9g vs %.9g", z->name, be, loss,
              ref_loss);
        CHECK(bad == 0, "%s on %s: %d gradient tensors off (largest: %s, %.3g)", z->name, be, bad, worst_name, worst);
        CHECK(perr <= 1e-6, "%s on %s: parameters after AdamW differ by %.3g", z->name, be, perr);
    }
    free(pref);
    free(pf);
    free(gf);
    free(pa);
    free(x);
    free(t);
    free(p);
    free(g);
    free(m1);
    free(m2);
    free(xd);
    free(td);
    free(yd);
    free(gy);
}

int main(void)
{
    nb_context *ctx = nbt_context(), *cpu = NULL;
    const nb_device_info *d = nb_context_device(ctx);
    printf("device %s: loop cap %u iterations per invocation%s\n", d->name, d->max_loop_iterations,
           d->max_loop_iterations ? "" : " (none known)");
    realsize z[3] = {
        {"quickstart",
         {.in_channels = 23, .out_channels = 1, .width = 8, .blocks = 2, .modes = 32, .length = 2112,
          .lifting_channels = 16, .projection_channels = 32, .mlp_channels = 4, .grid = 1},
         16},
        {"pretrained",
         {.in_channels = 23, .out_channels = 1, .width = 16, .blocks = 4, .modes = 64, .length = 4224,
          .lifting_channels = 32, .projection_channels = 64, .mlp_channels = 8, .grid = 1},
         16},
        {"published", {0}, 64},
    };
    REQUIRE_OK(nm_config_preset("noble", &z[2].c));
    z[2].c.length = 8580;
    nb_context *ctxs[2] = {ctx, NULL};
    uint32_t nctx = 1;
    if (nb_context_backend(ctx) != NB_BACKEND_CPU) { /* and the CPU backend beside it */
        nb_context_options o;
        nb_context_options_default(&o);
        o.backend = NB_BACKEND_CPU;
        REQUIRE_OK(nb_context_create(&o, &cpu));
        ctxs[nctx++] = cpu;
    }
    const char *only = getenv("NOBLE_REALSIZE");
    for (int i = 0; i < 3; i++)
        if (!only || !*only || strcmp(only, z[i].name) == 0)
            one_step(ctxs, nctx, &z[i]);
    nb_context_destroy(cpu);
    return nbt_finish(ctx);
}
