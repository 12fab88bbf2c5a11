/* The CPU reference of the operator: its backward against central finite
 * differences of its own forward (every parameter and the input), the Lp
 * loss gradient likewise, and the parameter count of the NOBLE preset. */
#include "nb_test.h"
#include "nm_models.h"

/* L = sum(w * y): its gradient with respect to y is w. */
static double objective(nm_ref *r, const double *x, uint32_t B, const double *w, uint64_t ny, double *y)
{
    nm_ref_forward(r, x, B, y);
    double s = 0;
    for (uint64_t i = 0; i < ny; i++)
        s += w[i] * y[i];
    return s;
}

static void check_model(const nm_config *c, uint32_t B, uint64_t seed)
{
    nm_ref *r;
    REQUIRE_OK(nm_ref_create(c, B, &r));
    const uint64_t P = nm_param_count(c), nx = (uint64_t)B * c->in_channels * c->length,
                   ny = (uint64_t)B * c->out_channels * c->length;
    float *pf = malloc(P * sizeof *pf);
    double *p = malloc(P * sizeof *p), *g = calloc(P, sizeof *g), *x = malloc(nx * sizeof *x),
           *gx = malloc(nx * sizeof *gx), *w = malloc(ny * sizeof *w), *y = malloc(ny * sizeof *y);
    nm_params_init(c, seed, pf);
    uint64_t s = seed;
    for (uint64_t i = 0; i < P; i++) /* perturb so gates and biases are not at special values */
        p[i] = pf[i] + 0.1 * nbt_rand(&s);
    for (uint64_t i = 0; i < nx; i++)
        x[i] = nbt_rand(&s);
    for (uint64_t i = 0; i < ny; i++)
        w[i] = nbt_rand(&s);
    nm_ref_set_params(r, p);
    objective(r, x, B, w, ny, y);
    nm_ref_backward(r, w, g, gx);

    /* Relative error per entry, with a floor of 1e-3 of the largest gradient
     * so that entries that are zero (or nearly) compare by absolute error
     * instead of by finite-difference noise. */
    double gmax = 0, gxmax = 0;
    for (uint64_t i = 0; i < P; i++)
        gmax = fmax(gmax, fabs(g[i]));
    for (uint64_t i = 0; i < nx; i++)
        gxmax = fmax(gxmax, fabs(gx[i]));
    const double h = 1e-5;
    double worst = 0;
    const char *worst_name = "";
    nm_param tab[64];
    uint32_t nt = nm_param_table(c, tab, 64);
    for (uint32_t t = 0; t < nt; t++)
        for (uint64_t k = 0; k < tab[t].count; k++) {
            uint64_t i = tab[t].offset + k;
            double keep = p[i];
            p[i] = keep + h;
            nm_ref_set_params(r, p);
            double fp = objective(r, x, B, w, ny, y);
            p[i] = keep - h;
            nm_ref_set_params(r, p);
            double fm = objective(r, x, B, w, ny, y);
            p[i] = keep;
            double fd = (fp - fm) / (2 * h), err = fabs(fd - g[i]) / (fabs(fd) + fabs(g[i]) + 1e-3 * gmax);
            if (err > worst) {
                worst = err;
                worst_name = tab[t].name;
            }
        }
    nm_ref_set_params(r, p);
    double worst_x = 0;
    for (uint64_t i = 0; i < nx; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double fp = objective(r, x, B, w, ny, y);
        x[i] = keep - h;
        double fm = objective(r, x, B, w, ny, y);
        x[i] = keep;
        double fd = (fp - fm) / (2 * h), err = fabs(fd - gx[i]) / (fabs(fd) + fabs(gx[i]) + 1e-3 * gxmax);
        if (err > worst_x)
            worst_x = err;
    }
    printf("reference backward vs finite differences (%u blocks, width %u, modes %u, N %u, grid %u, last act %u): "
           "params %.2e (worst %s), input %.2e\n",
           c->blocks, c->width, c->modes, c->length, c->grid, c->last_block_activation, worst, worst_name, worst_x);
    CHECK(worst < 1e-6, "parameter gradients: relative error %.3g at %s", worst, worst_name);
    CHECK(worst_x < 1e-6, "input gradient: relative error %.3g", worst_x);
    nm_ref_destroy(r);
    free(pf);
    free(p);
    free(g);
    free(x);
    free(gx);
    free(w);
    free(y);
}

static void check_loss(int p)
{
    enum { B = 3, N = 40 };
    double a[B * N], t[B * N], g[B * N], g2[B * N];
    uint64_t s = 77;
    for (int i = 0; i < B * N; i++) {
        t[i] = nbt_rand(&s) - 60.0 * (i % 7 == 0);
        a[i] = t[i] + 0.3 * nbt_rand(&s);
    }
    double l = nm_ref_lp_loss(a, t, B, N, p, g);
    double worst = 0, gmax = 0;
    for (int i = 0; i < B * N; i++)
        gmax = fmax(gmax, fabs(g[i]));
    for (int i = 0; i < B * N; i++) {
        double keep = a[i];
        a[i] = keep + 1e-6;
        double lp = nm_ref_lp_loss(a, t, B, N, p, g2);
        a[i] = keep - 1e-6;
        double lm = nm_ref_lp_loss(a, t, B, N, p, g2);
        a[i] = keep;
        double fd = (lp - lm) / 2e-6, err = fabs(fd - g[i]) / (fabs(fd) + fabs(g[i]) + 1e-3 * gmax);
        if (err > worst)
            worst = err;
    }
    /* by hand for one trace: ||a - t||_p / ||t||_p */
    double num = 0, den = 0;
    for (int i = 0; i < N; i++) {
        num += pow(fabs(a[i] - t[i]), p);
        den += pow(fabs(t[i]), p);
    }
    double first = nm_ref_lp_loss(a, t, 1, N, p, NULL);
    CHECK(fabs(first - pow(num / den, 1.0 / p)) < 1e-12, "L%d value", p);
    printf("relative L%d loss %.6f, gradient vs finite differences %.2e\n", p, l, worst);
    CHECK(worst < 1e-6, "L%d gradient: %.3g", p, worst);
}

int main(void)
{
    nm_config c;
    REQUIRE_OK(nm_config_preset("noble", &c));
    CHECK(nm_param_count(&c) == 1803001, "NOBLE preset: %llu parameters", (unsigned long long)nm_param_count(&c));
    nm_param tab[200];
    uint32_t nt = nm_param_table(&c, tab, 200);
    CHECK(tab[nt - 1].offset + tab[nt - 1].count == 1803001, "the table covers every parameter");
    CHECK(nt == 4 + 8 * 12 + 4, "%u tensors", nt);

    nm_config small = {.in_channels = 2, .out_channels = 1, .width = 3, .blocks = 2, .modes = 3, .length = 16,
                       .lifting_channels = 4, .projection_channels = 5, .mlp_channels = 2, .grid = 1};
    check_model(&small, 2, 1);
    small.last_block_activation = 1;
    small.grid = 0;
    small.out_channels = 2;
    check_model(&small, 1, 2);
    check_loss(2);
    check_loss(4);

    /* Configuration errors name the field. */
    nm_config bad = small;
    bad.length = 8583;
    CHECK(nm_config_check(&bad) == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "8580"), "%s", nb_last_error());
    bad = small;
    bad.modes = 8;
    CHECK(nm_config_check(&bad) == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "modes"), "%s", nb_last_error());
    CHECK(nm_config_preset("nope", &bad) == NB_ERR_INVALID_ARGUMENT, "unknown preset");
    if (nbt_failures)
        fprintf(stderr, "%d check(s) failed\n", nbt_failures);
    else
        printf("all checks passed\n");
    return nbt_failures ? 1 : 0;
}
