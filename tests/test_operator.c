/* The operator on the GPU against the double-precision CPU reference (whose
 * own gradients are checked against finite differences in test_reference):
 * forward, every parameter gradient, the loss, one AdamW step, micro-batched
 * gradients, bit-identical repeats; a small model and the NOBLE preset at a
 * short length.
 *
 * Tolerances (fp32 against double): outputs within 1e-4 of the largest
 * output magnitude; each parameter tensor's gradient within 2e-3 of that
 * tensor's largest gradient magnitude (sums over many positions in fp32);
 * the loss within 1e-5 relative; AdamW parameters within 1e-6 absolute and
 * its moments within 1e-6 of their largest magnitude. */
#include "nb_test.h"
#include "nm_models.h"

#include <stdlib.h>

typedef struct run {
    nm_config c;
    uint32_t B;
    uint64_t P, nx, ny;
    float *pf, *xf, *tf, *yf, *gf;
    double *p, *x, *t, *y, *gy, *g;
} run;

static void setup(run *r, const nm_config *c, uint32_t B, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->c = *c;
    r->B = B;
    r->P = nm_param_count(c);
    r->nx = (uint64_t)B * c->in_channels * c->length;
    r->ny = (uint64_t)B * c->out_channels * c->length;
    r->pf = malloc(r->P * 4);
    r->gf = malloc(r->P * 4);
    r->xf = malloc(r->nx * 4);
    r->tf = malloc(r->ny * 4);
    r->yf = malloc(r->ny * 4);
    r->p = malloc(r->P * 8);
    r->g = calloc(r->P, 8);
    r->x = malloc(r->nx * 8);
    r->t = malloc(r->ny * 8);
    r->y = malloc(r->ny * 8);
    r->gy = malloc(r->ny * 8);
    nm_params_init(c, seed, r->pf);
    uint64_t s = seed * 7 + 1;
    for (uint64_t i = 0; i < r->P; i++) { /* away from init's special values (gates = 1) */
        r->pf[i] += (float)(0.05 * nbt_rand(&s));
        r->p[i] = r->pf[i];
    }
    for (uint64_t i = 0; i < r->nx; i++) { /* a step current and smooth channels, like NOBLE's inputs */
        uint64_t n = i % c->length;
        r->xf[i] = (float)((n > c->length / 8 && n < c->length * 3 / 4 ? 1.0 : 0.0) + 0.3 * nbt_rand(&s));
        r->x[i] = r->xf[i];
    }
    for (uint64_t i = 0; i < r->ny; i++) {
        r->tf[i] = (float)(sin(0.05 * (double)(i % c->length)) + 0.2 * nbt_rand(&s) - 0.5);
        r->t[i] = r->tf[i];
    }
}

static void teardown(run *r)
{
    free(r->pf);
    free(r->gf);
    free(r->xf);
    free(r->tf);
    free(r->yf);
    free(r->p);
    free(r->g);
    free(r->x);
    free(r->t);
    free(r->y);
    free(r->gy);
}

static void compare(nb_context *ctx, const nm_config *c, uint32_t B, int p, const char *what)
{
    run r;
    setup(&r, c, B, 3);
    nm_ref *ref;
    REQUIRE_OK(nm_ref_create(c, B, &ref));
    nm_ref_set_params(ref, r.p);
    nm_ref_forward(ref, r.x, B, r.y);
    double ref_loss = nm_ref_lp_loss(r.y, r.t, B, (uint64_t)c->out_channels * c->length, p, r.gy);
    nm_ref_backward(ref, r.gy, r.g, NULL);

    nm_model *m;
    REQUIRE_OK(nm_model_create(ctx, c, B, 1, &m));
    REQUIRE_OK(nm_model_set_params(m, r.pf));
    REQUIRE_OK(nm_model_forward(m, r.xf, B, r.yf));
    double ymax = 0, yerr = 0;
    for (uint64_t i = 0; i < r.ny; i++) {
        ymax = fmax(ymax, fabs(r.y[i]));
        yerr = fmax(yerr, fabs(r.yf[i] - r.y[i]));
    }
    double loss = 0;
    REQUIRE_OK(nm_model_backward(m, r.xf, r.tf, B, p, &loss));
    REQUIRE_OK(nm_model_get_grads(m, r.gf));
    nm_param tab[200];
    uint32_t nt = nm_param_table(c, tab, 200);
    double worst = 0;
    const char *worst_name = "";
    for (uint32_t k = 0; k < nt; k++) {
        double gmax = 0, e = 0;
        for (uint64_t i = tab[k].offset; i < tab[k].offset + tab[k].count; i++) {
            gmax = fmax(gmax, fabs(r.g[i]));
            e = fmax(e, fabs(r.gf[i] - r.g[i]));
        }
        double rel = e / (gmax + 1e-30);
        if (rel > worst) {
            worst = rel;
            worst_name = tab[k].name;
        }
    }
    printf("%s: B %u, L%d: output error %.2e of max %.3g; loss %.8f vs %.8f; worst gradient %.2e (%s)\n", what, B,
           p, yerr / ymax, ymax, loss, ref_loss, worst, worst_name);
    CHECK(yerr <= 1e-4 * ymax, "%s: output error %.3g of %.3g", what, yerr, ymax);
    CHECK(fabs(loss - ref_loss) <= 1e-5 * fabs(ref_loss), "%s: loss %.9g vs %.9g", what, loss, ref_loss);
    CHECK(worst <= 2e-3, "%s: gradient of %s off by %.3g of its largest entry", what, worst_name, worst);

    /* Bit-identical repeats: same inputs, same device, same bits. */
    float *g2 = malloc(r.P * 4), *y2 = malloc(r.ny * 4);
    double loss2;
    REQUIRE_OK(nm_model_backward(m, r.xf, r.tf, B, p, &loss2));
    REQUIRE_OK(nm_model_get_grads(m, g2));
    REQUIRE_OK(nm_model_forward(m, r.xf, B, y2));
    CHECK(memcmp(g2, r.gf, r.P * 4) == 0 && loss2 == loss, "%s: repeated gradients differ", what);
    CHECK(memcmp(y2, r.yf, r.ny * 4) == 0, "%s: repeated forward differs", what);
    free(g2);
    free(y2);
    nm_model_destroy(m);
    nm_ref_destroy(ref);
    teardown(&r);
}

static void adamw_and_microbatch(nb_context *ctx, const nm_config *c)
{
    const uint32_t B = 5;
    run r;
    setup(&r, c, B, 11);
    nm_model *m;
    REQUIRE_OK(nm_model_create(ctx, c, B, 1, &m));
    REQUIRE_OK(nm_model_set_params(m, r.pf));
    nm_adamw opt;
    nm_adamw_default(&opt);
    opt.weight_decay = 0.01; /* exercise every term */
    double loss;
    /* two steps, so the moments carry over */
    double *mm = calloc(r.P, 8), *vv = calloc(r.P, 8);
    float *gpu_p = malloc(r.P * 4);
    for (uint64_t step = 1; step <= 2; step++) {
        REQUIRE_OK(nm_model_train_step(m, r.xf, r.tf, B, 4, &opt, step, &loss));
        REQUIRE_OK(nm_model_get_grads(m, r.gf)); /* the gradient the step used */
        double *gd = malloc(r.P * 8);
        for (uint64_t i = 0; i < r.P; i++)
            gd[i] = r.gf[i];
        nm_ref_adamw(&opt, step, r.P, r.p, gd, mm, vv);
        free(gd);
    }
    REQUIRE_OK(nm_model_get_params(m, gpu_p));
    double e = 0;
    for (uint64_t i = 0; i < r.P; i++)
        e = fmax(e, fabs(gpu_p[i] - r.p[i]));
    printf("AdamW, 2 steps, weight decay 0.01: largest parameter difference %.2e\n", e);
    CHECK(e <= 1e-6, "AdamW parameters differ by %.3g", e);
    float *m1 = malloc(r.P * 4), *m2 = malloc(r.P * 4);
    REQUIRE_OK(nm_model_get_moments(m, m1, m2));
    double e1 = 0, e2 = 0, s1 = 0, s2 = 0;
    for (uint64_t i = 0; i < r.P; i++) {
        e1 = fmax(e1, fabs(m1[i] - mm[i]));
        e2 = fmax(e2, fabs(m2[i] - vv[i]));
        s1 = fmax(s1, fabs(mm[i]));
        s2 = fmax(s2, fabs(vv[i]));
    }
    printf("AdamW moments: first %.2e of %.3g, second %.2e of %.3g\n", e1, s1, e2, s2);
    CHECK(e1 <= 1e-6 * s1 && e2 <= 1e-6 * s2, "AdamW moments differ by %.3g and %.3g", e1 / s1, e2 / s2);
    nm_model_destroy(m);

    /* Micro-batches of 2 give the gradient of the whole batch of 5. */
    REQUIRE_OK(nm_model_create(ctx, c, B, 1, &m));
    REQUIRE_OK(nm_model_set_params(m, r.pf));
    float *g_full = malloc(r.P * 4), *g_mb = malloc(r.P * 4);
    double l_full, l_mb;
    REQUIRE_OK(nm_model_backward(m, r.xf, r.tf, B, 4, &l_full));
    REQUIRE_OK(nm_model_get_grads(m, g_full));
    nm_model_destroy(m);
    setenv("NOBLE_MICROBATCH", "2", 1);
    REQUIRE_OK(nm_model_create(ctx, c, B, 1, &m));
    unsetenv("NOBLE_MICROBATCH");
    REQUIRE_OK(nm_model_set_params(m, r.pf));
    REQUIRE_OK(nm_model_backward(m, r.xf, r.tf, B, 4, &l_mb));
    REQUIRE_OK(nm_model_get_grads(m, g_mb));
    double gm = 0, ge = 0;
    for (uint64_t i = 0; i < r.P; i++) {
        gm = fmax(gm, fabs(g_full[i]));
        ge = fmax(ge, fabs(g_full[i] - g_mb[i]));
    }
    printf("micro-batches of 2 vs one batch of 5: loss %.8f vs %.8f, gradient difference %.2e of %.3g\n", l_mb,
           l_full, ge, gm);
    CHECK(fabs(l_mb - l_full) <= 1e-6 * fabs(l_full), "micro-batched loss");
    CHECK(ge <= 1e-5 * gm, "micro-batched gradients differ by %.3g of %.3g", ge, gm);
    /* Bad input is refused. */
    CHECK(nm_model_forward(m, r.xf, B + 1, r.yf) == NB_ERR_INVALID_ARGUMENT, "batch over the maximum");
    CHECK(nm_model_backward(m, r.xf, r.tf, B, 3, &l_mb) == NB_ERR_INVALID_ARGUMENT, "p = 3");
    r.xf[5] = NAN;
    CHECK(nm_model_forward(m, r.xf, B, r.yf) == NB_ERR_INVALID_ARGUMENT &&
              strstr(nb_last_error(), "the input is not finite at trace 0, channel 0, sample 5"),
          "NaN input: %s", nb_last_error());
    r.xf[5] = 0;
    r.tf[r.ny - 1] = INFINITY;
    CHECK(nm_model_backward(m, r.xf, r.tf, B, 4, &l_mb) == NB_ERR_INVALID_ARGUMENT &&
              strstr(nb_last_error(), "the target is not finite at trace 4"),
          "infinite target: %s", nb_last_error());
    r.pf[7] = NAN;
    CHECK(nm_model_set_params(m, r.pf) == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "not finite"),
          "NaN parameters: %s", nb_last_error());
    nm_model_destroy(m);
    free(g_full);
    free(g_mb);
    free(m1);
    free(m2);
    free(mm);
    free(vv);
    free(gpu_p);
    teardown(&r);
}

/* A host loss term's value at v[n] (for central differences). */
typedef double (*term_fn)(const void *ctx, const float *v, int n);

/* The largest gap between g and central differences of f at v (step
 * 0.01 mV), as a fraction of max |g|; *gmax gets max |g|. */
static double fd_gap(term_fn f, const void *ctx, const float *v, const float *g, int n, double *gmax)
{
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    double worst = 0;
    *gmax = 0;
    for (int i = 0; i < n; i++) {
        memcpy(a, v, (size_t)n * sizeof *a);
        memcpy(b, v, (size_t)n * sizeof *b);
        a[i] += 0.01f;
        b[i] -= 0.01f;
        double fd = (f(ctx, a, n) - f(ctx, b, n)) / (a[i] - b[i]);
        worst = fmax(worst, fabs(fd - g[i]));
        *gmax = fmax(*gmax, fabs(g[i]));
    }
    free(a);
    free(b);
    return *gmax > 0 ? worst / *gmax : worst;
}

static double sag_of(const void *ctx, const float *v, int n)
{
    (void)n;
    return nm_soft_sag(v, 8, 48, *(const double *)ctx, NULL);
}

static double count_of(const void *ctx, const float *v, int n)
{
    (void)ctx;
    return nm_soft_spike_count(v, (uint32_t)n, -20, 5, NULL);
}

static double spike_loss_of(const void *ctx, const float *v, int n)
{
    const nm_spike_term *t = ctx;
    float *g = malloc((size_t)n * sizeof *g);
    double l = nm_spike_loss((void *)t, 0, t->batch, t->n, v, g);
    free(g);
    return l;
}

/* The embedded path: a model that makes its input channels on the device
 * from the current and the codes (amplitude, I_thr, s_thr) gives what the
 * reference gives on nm_embed_ref's channels, in mV; and a training step
 * on it gives the same loss as on those channels given whole. */
static void embedded(nb_context *ctx)
{
    nm_embedding e;
    nm_embedding_default(&e);
    e.amp_freqs = 3; /* 1 + 6 + 4 = 11 channels */
    const double mn[3] = {-110, 22, 0.7}, mx[3] = {270, 96, 1.0};
    for (int i = 0; i < 3; i++) {
        e.min[i] = mn[i];
        e.max[i] = mx[i];
    }
    nm_config c = {.in_channels = nm_embedding_channels(&e), .out_channels = 1, .width = 4, .blocks = 2,
                   .modes = 5, .length = 64, .lifting_channels = 6, .projection_channels = 8, .mlp_channels = 3,
                   .grid = 1};
    enum { B = 3, N = 64 };
    const uint64_t P = nm_param_count(&c);
    float *pf = malloc(P * 4);
    double *pd = malloc(P * 8);
    nm_params_init(&c, 9, pf);
    for (uint64_t i = 0; i < P; i++)
        pd[i] = pf[i];
    const float codes[B * 3] = {150, 40, 0.8f, 0, 96, 1.0f, -110, 22, 0.7f};
    double codesd[B * 3];
    float cur[B * N], yv[B * N], tv[B * N];
    double curd[B * N], x[B * 11 * N], y[B * N];
    for (int i = 0; i < B * 3; i++)
        codesd[i] = codes[i];
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            cur[b * N + n] = n >= 8 && n < 48 ? codes[b * 3] : 0.0f;
            curd[b * N + n] = cur[b * N + n];
            tv[b * N + n] = (float)(-70.0 + 10.0 * sin(0.3 * n + b));
        }
    nm_embed_ref(&e, curd, codesd, B, N, x);
    nm_ref *ref;
    REQUIRE_OK(nm_ref_create(&c, B, &ref));
    nm_ref_set_params(ref, pd);
    nm_ref_forward(ref, x, B, y);
    nm_model *m;
    REQUIRE_OK(nm_model_create(ctx, &c, B, 1, &m));
    REQUIRE_OK(nm_model_set_params(m, pf));
    CHECK(nm_model_predict(m, cur, codes, B, yv) == NB_ERR_INVALID_ARGUMENT &&
              strstr(nb_last_error(), "no embedding"),
          "predict without an embedding: %s", nb_last_error());
    nm_embedding bad = e;
    bad.amp_freqs = 9;
    CHECK(nm_model_set_embedding(m, &bad) == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "takes 11"),
          "an embedding of the wrong width: %s", nb_last_error());
    REQUIRE_OK(nm_model_set_embedding(m, &e));
    REQUIRE_OK(nm_model_predict(m, cur, codes, B, yv));
    double err = 0, mx_y = 0;
    for (int i = 0; i < B * N; i++) {
        err = fmax(err, fabs(yv[i] - e.voltage_scale * y[i]));
        mx_y = fmax(mx_y, fabs(e.voltage_scale * y[i]));
    }
    printf("embedded path: output error %.2e of max %.3g mV\n", err / mx_y, mx_y);
    CHECK(err <= 1e-4 * mx_y, "embedded predict: error %.3g of %.3g", err, mx_y);

    /* the loss: relative L4 of the prediction in mV */
    double yd[B * N], td[B * N];
    for (int i = 0; i < B * N; i++) {
        yd[i] = e.voltage_scale * y[i];
        td[i] = tv[i];
    }
    double want = nm_ref_lp_loss(yd, td, B, N, 4, NULL), loss = 0;
    nm_adamw o;
    nm_adamw_default(&o);
    REQUIRE_OK(nm_model_train_step_embedded(m, cur, codes, tv, B, 4, &o, 1, &loss));
    printf("embedded path: training loss %.8f vs reference %.8f\n", loss, want);
    CHECK(fabs(loss - want) <= 1e-5 * want, "embedded loss %.9g vs %.9g", loss, want);
    float nan_codes[B * 3];
    memcpy(nan_codes, codes, sizeof codes);
    nan_codes[4] = NAN;
    CHECK(nm_model_predict(m, cur, nan_codes, B, yv) == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "codes"),
          "a NaN code is named: %s", nb_last_error());

    /* The sag term (NOBLE's fine-tune): its gradient in v against central
     * differences, then through the network: the gradient a step with the
     * term adds, along itself, against differences of the term. */
    {
        float v[N], gv[N];
        for (int n = 0; n < N; n++)
            v[n] = (float)(-70.0 - 6.0 * exp(-0.5 * (n - 20) * (n - 20) / 16.0) + 3.0 * (n > 20 ? 1 : 0) +
                           0.3 * sin(0.7 * n));
        memset(gv, 0, sizeof gv);
        const double tau = 0.5;
        nm_soft_sag(v, 8, 48, tau, gv);
        double gmax, gap = fd_gap(sag_of, &tau, v, gv, N, &gmax);
        printf("soft sag: gradient vs central differences %.2e of max %.3g\n", gap, gmax);
        CHECK(gap <= 1e-3, "soft sag gradient off by %.3g of %.3g", gap, gmax);

        uint32_t s0[B] = {8, 8, 8}, s1[B] = {48, 48, 48};
        uint8_t use[B] = {0, 0, 1}; /* the third trace is the hyperpolarising step */
        nm_sag_term st = {.lambda = 25, .tau_mV = tau, .batch = B, .n = N, .step0 = s0, .step1 = s1, .use = use,
                          .target = tv};
        REQUIRE_OK(nm_sag_prepare(&st));
        const uint64_t P2 = nm_param_count(&c);
        float *g0 = malloc(P2 * 4), *g1 = malloc(P2 * 4), *pp = malloc(P2 * 4);
        double l0, l1, term;
        REQUIRE_OK(nm_model_set_params(m, pf));
        REQUIRE_OK(nm_model_train_step_embedded(m, cur, codes, tv, B, 4, &o, 1, &l0));
        REQUIRE_OK(nm_model_get_grads(m, g0));
        REQUIRE_OK(nm_model_set_params(m, pf));
        REQUIRE_OK(nm_model_train_step_term(m, cur, codes, tv, B, 4, nm_sag_loss, &st, &o, 1, &l1, &term));
        REQUIRE_OK(nm_model_get_grads(m, g1));
        double dd = 0;
        for (uint64_t i = 0; i < P2; i++)
            dd += (double)(g1[i] - g0[i]) * (g1[i] - g0[i]);
        const double eps = 1e-2 / sqrt(dd);
        double tp[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            for (uint64_t i = 0; i < P2; i++)
                pp[i] = (float)(pf[i] + (sgn ? -eps : eps) * (g1[i] - g0[i]));
            REQUIRE_OK(nm_model_set_params(m, pp));
            REQUIRE_OK(nm_model_predict(m, cur, codes, B, yv));
            float gs[B * N];
            tp[sgn] = nm_sag_loss(&st, 0, B, N, yv, gs);
        }
        const double fd = (tp[0] - tp[1]) / (2 * eps);
        printf("sag term %.6g (loss %.6g = %.6g + term); directional derivative %.6g vs |g|^2 %.6g\n", term, l1, l0,
               fd, dd);
        CHECK(fabs(l1 - (l0 + term)) <= 1e-5 * l1 && term > 0, "the step's loss is data + term");
        CHECK(fabs(fd - dd) <= 0.02 * dd, "the term's gradient through the network: %.6g vs %.6g", fd, dd);
        free(g0);
        free(g1);
        free(pp);
    }

    /* The spike-count term: the soft count of a clean train of three spikes
     * is three; its gradient, and the term's, against central differences. */
    {
        enum { S = 200 };
        float v[S], t[2 * S], gv[S], gl[2 * S];
        for (int n = 0; n < S; n++) {
            double u = -65.0 + 8.0 * sin(0.05 * n);
            for (int k = 0; k < 3; k++)
                u += 90.0 * exp(-0.5 * (n - 40 - 50 * k) * (n - 40 - 50 * k) / 4.0);
            t[n] = (float)u;                                      /* three spikes */
            t[S + n] = (float)(-70.0 + 2.0 * sin(0.1 * n));     /* none */
            v[n] = (float)(-45.0 + 12.0 * sin(0.21 * n) + 0.5 * cos(1.3 * n)); /* near threshold */
        }
        const double c3 = nm_soft_spike_count(t, S, -20, 5, NULL), c0 = nm_soft_spike_count(t + S, S, -20, 5, NULL);
        printf("soft spike count: %.4f for 3 spikes, %.2e for none\n", c3, c0);
        CHECK(fabs(c3 - 3) < 0.02 && c0 < 1e-3, "soft spike counts %.4f and %.3g", c3, c0);
        memset(gv, 0, sizeof gv);
        nm_soft_spike_count(v, S, -20, 5, gv);
        double gmax, gap = fd_gap(count_of, NULL, v, gv, S, &gmax);
        printf("soft spike count: gradient vs central differences %.2e of max %.3g\n", gap, gmax);
        CHECK(gap <= 1e-3, "soft spike count gradient off by %.3g of %.3g", gap, gmax);

        float vv[2 * S];
        memcpy(vv, v, sizeof v);
        memcpy(vv + S, v, sizeof v); /* spikes where the second target has none */
        nm_spike_term sp = {.lambda = 1.5, .threshold_mV = -20, .width_mV = 5, .batch = 2, .n = S, .target = t};
        REQUIRE_OK(nm_spike_prepare(&sp));
        const double l = nm_spike_loss(&sp, 0, 2, S, vv, gl);
        gap = fd_gap(spike_loss_of, &sp, vv, gl, 2 * S, &gmax);
        printf("spike term %.5g: gradient vs central differences %.2e of max %.3g\n", l, gap, gmax);
        CHECK(l > 0 && gap <= 1e-3, "spike term gradient off by %.3g of %.3g", gap, gmax);
        sp.width_mV = 0;
        CHECK(nm_spike_prepare(&sp) == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "width"),
              "a zero width is refused: %s", nb_last_error());
    }

    /* The shape term: nothing for a periodic spike train shifted in time (the
     * same values and changes but the one change a window leaves out),
     * much for the same train's mean;
     * its gradient against central differences along random directions
     * (steps far smaller than the gaps between values, so no two swap). */
    {
        enum { S = 200 };
        float t[2 * S], v[2 * S], g[2 * S], a[2 * S], b[2 * S];
        for (int n = 0; n < S; n++) {
            double u = -65.0 + 4.0 * sin(2 * M_PI * n / 100.0);
            for (int k = -1; k <= 4; k++) /* spikes every 50 samples, wrapping */
                u += 90.0 * exp(-0.5 * (n - 20 - 50 * k) * (n - 20 - 50 * k) / 4.0);
            t[n] = (float)u;
            t[S + n] = (float)(-70.0 + 3.0 * sin(0.1 * n) + 0.01 * n);
        }
        nm_shape_term sh = {.lambda = 0.7, .batch = 2, .n = S, .target = t,
                            .scratch = malloc(nm_shape_scratch_bytes(S))};
        REQUIRE_OK(nm_shape_prepare(&sh));
        for (int n = 0; n < S; n++) {
            v[n] = t[(n + 17) % S];
            v[S + n] = t[S + n];
        }
        const double shifted = nm_shape_loss(&sh, 0, 2, S, v, g);
        double mean = 0;
        for (int n = 0; n < S; n++)
            mean += t[n] / S;
        for (int n = 0; n < S; n++)
            v[n] = (float)mean;
        const double flat = nm_shape_loss(&sh, 0, 2, S, v, g);
        printf("shape term: %.3g for the shifted spike train, %.3g for its mean\n", shifted, flat);
        CHECK(shifted < 1e-2 && flat > 0.5, "shape term %.3g shifted, %.3g flat", shifted, flat);

        uint32_t r = 12345;
        for (int n = 0; n < 2 * S; n++) {
            r = r * 1664525u + 1013904223u;
            v[n] = t[n] + (float)(((r >> 8) / 16777216.0 - 0.5) * 6.0);
        }
        const double l = nm_shape_loss(&sh, 0, 2, S, v, g);
        double worst = 0, gscale = 0;
        for (int dir = 0; dir < 4; dir++) {
            double dot = 0;
            const double h = 1e-3;
            for (int n = 0; n < 2 * S; n++) {
                r = r * 1664525u + 1013904223u;
                const double d = (r >> 8) / 16777216.0 - 0.5;
                a[n] = (float)(v[n] + h * d);
                b[n] = (float)(v[n] - h * d);
                dot += g[n] * (((double)a[n] - b[n]) / 2.0);
            }
            float gs[2 * S];
            const double fd = (nm_shape_loss(&sh, 0, 2, S, a, gs) - nm_shape_loss(&sh, 0, 2, S, b, gs)) / 2.0;
            worst = fmax(worst, fabs(fd - dot));
            gscale = fmax(gscale, fabs(dot));
        }
        printf("shape term %.5g: directional derivatives vs central differences %.2e of %.3g\n", l, worst / gscale,
               gscale);
        CHECK(l > 0 && worst <= 1e-3 * gscale, "shape term gradient off by %.3g of %.3g", worst, gscale);
        sh.lambda = -1;
        CHECK(nm_shape_prepare(&sh) == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "lambda"),
              "a negative lambda is refused: %s", nb_last_error());
        free(sh.scratch);
    }
    nm_model_destroy(m);
    nm_ref_destroy(ref);
    free(pf);
    free(pd);
}

/* Where the device stops long loops (lavapipe), a model whose kernels
 * cannot be planned under the cap is refused at creation, by kernel, and
 * never run (docs/operator.md, "The loop cap"). */
static void loop_cap(nb_context *ctx)
{
    const uint32_t cap = nb_context_device(ctx)->max_loop_iterations;
    if (!cap) {
        printf("loop cap: none on this device\n");
        return;
    }
    nm_config wide = {.in_channels = 2, .out_channels = 1, .width = 256, .blocks = 1, .modes = 4, .length = 64,
                      .lifting_channels = 8, .projection_channels = 8, .mlp_channels = 4, .grid = 1};
    nm_model *m = NULL;
    nb_status s = nm_model_create(ctx, &wide, 2, 1, &m);
    printf("width 256 on a device with a loop cap of %u: %s\n", cap, nb_last_error());
    CHECK(s == NB_ERR_UNSUPPORTED && !m && strstr(nb_last_error(), "loop iterations") &&
              strstr(nb_last_error(), "kernel '"),
          "a model past the loop cap is refused by kernel: %s", nb_last_error());
    nm_model_destroy(m);
    wide.width = 64; /* under it: made, and its spectral mix takes fewer traces per invocation */
    REQUIRE_OK(nm_model_create(ctx, &wide, 2, 1, &m));
    nm_model_destroy(m);
}

/* The CPU backend gives the same bits for any number of threads: its tasks
 * are cut by the shapes, never by the thread count (docs/architecture.md).
 * One training step of the NOBLE preset (short length) on 1, 2 and 3
 * threads: the loss, the gradients and the parameters after AdamW compared
 * bit for bit. */
static void thread_counts(void)
{
    nm_config c;
    REQUIRE_OK(nm_config_preset("noble", &c));
    c.length = 520;
    const uint32_t B = 3;
    run r;
    setup(&r, &c, B, 21);
    float *g[3], *p[3];
    double loss[3];
    for (uint32_t t = 0; t < 3; t++) {
        nb_context_options o;
        nb_context_options_default(&o);
        o.backend = NB_BACKEND_CPU;
        o.threads = t + 1;
        nb_context *cx;
        REQUIRE_OK(nb_context_create(&o, &cx));
        nm_model *m;
        REQUIRE_OK(nm_model_create(cx, &c, B, 1, &m));
        REQUIRE_OK(nm_model_set_params(m, r.pf));
        nm_adamw opt;
        nm_adamw_default(&opt);
        REQUIRE_OK(nm_model_train_step(m, r.xf, r.tf, B, 4, &opt, 1, &loss[t]));
        g[t] = malloc(r.P * 4);
        p[t] = malloc(r.P * 4);
        REQUIRE_OK(nm_model_get_grads(m, g[t]));
        REQUIRE_OK(nm_model_get_params(m, p[t]));
        nm_model_destroy(m);
        nb_context_destroy(cx);
    }
    for (uint32_t t = 1; t < 3; t++)
        CHECK(loss[t] == loss[0] && memcmp(g[t], g[0], r.P * 4) == 0 && memcmp(p[t], p[0], r.P * 4) == 0,
              "CPU backend: %u threads give other bits than 1 (loss %.17g vs %.17g)", t + 1, loss[t], loss[0]);
    printf("CPU backend: one training step on 1, 2 and 3 threads: the same bits (loss %.9f)\n", loss[0]);
    for (uint32_t t = 0; t < 3; t++) {
        free(g[t]);
        free(p[t]);
    }
    teardown(&r);
}

/* The paths the model takes on this context: on a CPU device texel loads and
 * the CPU's tiles, in the GPU configuration (NOBLE_GPU_CONFIG=1) storage
 * loads, the GPU's tiles, VkFFT and staged transfers (docs/architecture.md). */
static void paths(nb_context *ctx, const nm_config *c)
{
    nm_model *m;
    REQUIRE_OK(nm_model_create(ctx, c, 2, 1, &m));
    nm_model_paths p;
    nm_model_paths_get(m, &p);
    nm_model_destroy(m);
    int gpu = nb_context_gpu_config(ctx);
    printf("paths: %s, %s loads, %s tiles, FFT %s, transfers %s%s\n", gpu ? "GPU configuration" : "the device's own",
           p.texel_loads ? "texel" : "storage", p.cpu_tiles ? "CPU" : "GPU",
           nb_fft_backend_name(nb_context_fft_backend(ctx)), nb_context_staging_bytes(ctx) ? "staged" : "mapped",
           nb_context_backend(ctx) == NB_BACKEND_CPU ? " (the CPU backend)" : "");
    if (gpu) {
        CHECK(!p.texel_loads && !p.cpu_tiles, "the GPU configuration takes storage loads and the GPU's tiles");
        CHECK(nb_context_fft_backend(ctx) == NB_FFT_VKFFT, "the GPU configuration takes VkFFT");
        CHECK(nb_context_staging_bytes(ctx) > 0, "the GPU configuration stages its transfers");
    } else if (nb_context_backend(ctx) == NB_BACKEND_VULKAN && nb_context_device(ctx)->type == NB_DEVICE_CPU &&
               !getenv("NOBLE_LOADS") && !getenv("NOBLE_WGRAD_TILES") && !getenv("NOBLE_FFT")) {
        CHECK(p.texel_loads && p.cpu_tiles, "a CPU device takes texel loads and the CPU's tiles");
        CHECK(nb_context_fft_backend(ctx) == NB_FFT_HOST && !nb_context_staging_bytes(ctx),
              "a CPU device takes the host FFT over mapped memory");
    }
}

/* A storage range smaller than the batch's tensors: the model splits the
 * batch into micro-batches that fit one binding, and the gradient is the
 * whole batch's (a device whose maxStorageBufferRange is small, or a batch
 * past 4 GiB). */
static void storage_split(const nm_config *small_model)
{
    const uint32_t B = 5;
    nm_config cc = *small_model;
    cc.length = 256; /* its widest tensor: 8 channels x 258 floats, 8256 bytes a trace */
    const nm_config *c = &cc;
    run r;
    setup(&r, c, B, 12);
    nb_context_options o;
    nb_context_options_default(&o);
    nb_context *big = NULL, *small = NULL;
    REQUIRE_OK(nb_context_create(&o, &big));
    if (nb_context_backend(big) != NB_BACKEND_VULKAN) {
        printf("storage split: Vulkan's (the CPU backend binds no buffers)\n");
        nb_context_destroy(big);
        teardown(&r);
        return;
    }
    /* Too small for even one trace's partial sums of the weight gradients
     * with the GPU's tiles (64 lanes of phases): refused at creation. */
    o.max_storage_range = 9216; /* one trace of each tensor */
    REQUIRE_OK(nb_context_create(&o, &small));
    nm_model *m0 = NULL;
    nb_status s0 = nm_model_create(small, c, B, 1, &m0);
    if (s0) {
        printf("storage range 9216 bytes: refused: %s\n", nb_last_error());
        CHECK(s0 == NB_ERR_UNSUPPORTED && strstr(nb_last_error(), "partial sums") &&
                  strstr(nb_last_error(), "storage binding"),
              "the refusal says why: %s", nb_last_error());
    } else {
        printf("storage range 9216 bytes: a micro-batch of 1 trace\n");
        CHECK(!nb_context_gpu_config(small), "the GPU's tiles need more than 9216 bytes of partial sums");
        nm_model_destroy(m0);
    }
    nb_context_destroy(small);
    o.max_storage_range = 16896; /* two traces of the widest tensor */
    REQUIRE_OK(nb_context_create(&o, &small));
    nm_model *m1, *m2;
    REQUIRE_OK(nm_model_create(big, c, B, 1, &m1));
    REQUIRE_OK(nm_model_create(small, c, B, 1, &m2));
    nm_model_paths p1, p2;
    nm_model_paths_get(m1, &p1);
    nm_model_paths_get(m2, &p2);
    REQUIRE_OK(nm_model_set_params(m1, r.pf));
    REQUIRE_OK(nm_model_set_params(m2, r.pf));
    float *g1 = malloc(r.P * 4), *g2 = malloc(r.P * 4);
    double l1, l2;
    REQUIRE_OK(nm_model_backward(m1, r.xf, r.tf, B, 4, &l1));
    REQUIRE_OK(nm_model_get_grads(m1, g1));
    nb_status s = nm_model_backward(m2, r.xf, r.tf, B, 4, &l2);
    CHECK(s == NB_OK, "backward with a storage range of 16896 bytes: %s", nb_last_error());
    if (s == NB_OK) {
        REQUIRE_OK(nm_model_get_grads(m2, g2));
        double gm = 0, ge = 0;
        for (uint64_t i = 0; i < r.P; i++) {
            gm = fmax(gm, fabs(g1[i]));
            ge = fmax(ge, fabs(g1[i] - g2[i]));
        }
        printf("storage range 16896 bytes: micro-batches of %u (of %u), loss %.8f vs %.8f, gradient difference %.2e of "
               "%.3g\n",
               p2.microbatch, p1.microbatch, l2, l1, ge, gm);
        CHECK(p2.microbatch < B && p1.microbatch == B, "the small range splits the batch: %u, %u", p2.microbatch,
              p1.microbatch);
        CHECK(fabs(l2 - l1) <= 1e-6 * fabs(l1) && ge <= 1e-5 * gm, "split batch: loss or gradient differ");
    }
    free(g1);
    free(g2);
    nm_model_destroy(m1);
    nm_model_destroy(m2);
    CHECK(nb_validation_count(small) == 0 && nb_validation_count(big) == 0, "validation messages: %s %s",
          nb_validation_message(small, 0), nb_validation_message(big, 0));
    nb_context_destroy(small);
    nb_context_destroy(big);
    teardown(&r);
}

int main(void)
{
    nb_context *ctx = nbt_context();
    loop_cap(ctx);
    if (nb_context_backend(ctx) == NB_BACKEND_CPU)
        thread_counts();
    nm_config small = {.in_channels = 2, .out_channels = 1, .width = 4, .blocks = 2, .modes = 5, .length = 64,
                       .lifting_channels = 6, .projection_channels = 8, .mlp_channels = 3, .grid = 1};
    compare(ctx, &small, 3, 2, "small model");
    compare(ctx, &small, 3, 4, "small model");
    small.last_block_activation = 1;
    small.grid = 0;
    small.out_channels = 2;
    compare(ctx, &small, 2, 4, "small model, last block activated, no grid, 2 outputs");
    nm_config noble;
    REQUIRE_OK(nm_config_preset("noble", &noble));
    noble.length = 520; /* short, so the CPU reference stays quick */
    compare(ctx, &noble, 2, 4, "NOBLE preset at N = 520");
    small.last_block_activation = 0;
    small.grid = 1;
    small.out_channels = 1;
    adamw_and_microbatch(ctx, &small);
    paths(ctx, &small);
    storage_split(&small);
    embedded(ctx);
    return nbt_finish(ctx);
}
