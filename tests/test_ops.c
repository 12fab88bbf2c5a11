/* Every operator kernel on its own, in the manner of ggml's test-backend-ops:
 * each forward against a plain double-precision CPU computation, and each
 * backward against central finite differences of that CPU forward. One row
 * of output per case: kernel, variant, error, bound.
 *
 * Bounds: forward outputs within 2e-6 of the largest output magnitude (fp32
 * sums of tens of terms; GELU's erf is good to 3.8e-7 in fp32, checked on
 * its own to 1e-6);
 * gradients within 1e-5 of the largest gradient (the finite differences of
 * the double-precision forward are good to ~1e-9; the GPU sums in fp32 over
 * up to 1560 positions); the loss within 1e-5 relative; AdamW within 1e-6
 * absolute. Measured errors are 3e-8 to 4e-7 (printed). */
#include "nb_test.h"
#include "nm_models.h"

static nb_context *ctx;

/* ------------------------------------------------------------- helpers */

static nb_buffer *up(const float *h, uint64_t n)
{
    nb_buffer *b;
    REQUIRE_OK(nb_buffer_create(ctx, (n ? n : 1) * 4, NB_MEM_DEVICE, &b));
    if (h && n)
        REQUIRE_OK(nb_buffer_upload(b, 0, h, n * 4));
    return b;
}

static void down(nb_buffer *b, float *h, uint64_t n) { REQUIRE_OK(nb_buffer_download(b, 0, h, n * 4)); }

static nb_kernel *kern(const char *name, const char *const *defs, uint32_t nb, const nb_access *acc, uint32_t push)
{
    nb_kernel_desc d = {.name = name, .n_bindings = nb, .push_bytes = push};
    for (int i = 0; defs && defs[i]; i++)
        d.defines[i] = defs[i];
    for (uint32_t i = 0; i < nb; i++)
        d.access[i] = acc[i];
    nb_kernel *k;
    REQUIRE_OK(nb_kernel_create(ctx, &d, &k));
    return k;
}

static void run(nb_kernel *k, uint32_t gx, uint32_t gy, uint32_t gz, nb_buffer **bufs, const void *push)
{
    nb_cmd *c;
    uint32_t g[3] = {gx, gy, gz};
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    REQUIRE_OK(nb_cmd_dispatch(c, k, g, bufs, push, NULL));
    REQUIRE_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
}

static void fill(float *v, uint64_t n, uint64_t seed, double scale)
{
    for (uint64_t i = 0; i < n; i++)
        v[i] = (float)(scale * nbt_rand(&seed));
}

static void report(const char *op, const char *variant, double err, double bound)
{
    printf("  %-16s %-40s %.2e  (bound %.0e)  %s\n", op, variant, err, bound, err <= bound ? "ok" : "FAIL");
    CHECK(err <= bound, "%s %s: %.3g > %.1g", op, variant, err, bound);
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const double *b, uint64_t n)
{
    double e = 0, m = 0;
    for (uint64_t i = 0; i < n; i++) {
        e = fmax(e, fabs(a[i] - b[i]));
        m = fmax(m, fabs(b[i]));
    }
    return e / (m > 0 ? m : 1);
}

static double gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double gelu_grad(double x) { return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI); }

/* ------------------------------------------------------------ pointwise */

enum { B = 3, N = 520, CIN = 5, COUT = 3 }; /* B*N > 1024: two partial-sum rows */

static void def(char buf[][32], const char **list, int *n, const char *name, int v)
{
    snprintf(buf[*n], 32, "%s=%d", name, v);
    list[*n] = buf[*n];
    list[++*n] = NULL;
}

/* mlp_fwd (the lifting and the projection): out = W2 GELU(W1 x + b1) + b2,
 * through HID hidden channels; with SAVE, h = W1 x + b1 is written too. */
enum { HID = 7 };

/* How the fused kernels (mlp_*, block_*) are built, as the model builds them
 * on one device or another: the weights from the parameter buffer or from
 * uniform buffers, and the large inputs from storage buffers or as texels
 * (vec.glsl). */
enum { W_STORAGE, W_UNIFORM, W_TEXEL };
static const char *const wmode_name[3] = {"storage", "uniform", "uniform, texel"};

/* The two layers' weights as mlp_fwd and mlp_bwd read them: two uniform
 * buffers [W | bias | (gate slot)], or one storage buffer with the four
 * tensors at nonzero offsets (set in push[2..5]). Returns the buffer count. */
static uint32_t mlp_upload(const float *w1, const float *b1, const float *w2, const float *b2, int ubo,
                           nb_buffer **bw, uint32_t push[6])
{
    if (ubo) {
        float u1[HID * CIN + 2 * HID + 4] = {0}, u2[COUT * HID + 2 * COUT + 4] = {0};
        memcpy(u1, w1, sizeof(float) * HID * CIN);
        memcpy(u1 + HID * CIN, b1, sizeof(float) * HID);
        memcpy(u2, w2, sizeof(float) * COUT * HID);
        memcpy(u2 + COUT * HID, b2, sizeof(float) * COUT);
        bw[0] = up(u1, sizeof u1 / sizeof *u1);
        bw[1] = up(u2, sizeof u2 / sizeof *u2);
        return 2;
    }
    float prm[5 + HID * CIN + HID + COUT * HID + COUT + 4] = {0};
    const float *src[4] = {w1, b1, w2, b2};
    const uint32_t len[4] = {HID * CIN, HID, COUT * HID, COUT};
    uint32_t at = 3;
    for (int t = 0; t < 4; t++) {
        push[2 + t] = at;
        memcpy(prm + at, src[t], len[t] * 4);
        at += len[t] + 1;
    }
    bw[0] = up(prm, at);
    return 1;
}

/* Builds and runs mlp_fwd (save >= 0) or mlp_bwd (save < 0) over the
 * weights bw (nw buffers) and the tensors io (nr read, then written). */
static void mlp_run(int save, int ubo, nb_buffer **bw, uint32_t nw, nb_buffer **io, int nr, int nio,
                    const uint32_t push[6])
{
    char buf[8][32];
    const char *defs[9];
    int texel = ubo == W_TEXEL;
    int nd = 0;
    def(buf, defs, &nd, "CIN", CIN);
    def(buf, defs, &nd, "HID", HID);
    def(buf, defs, &nd, "COUT", COUT);
    def(buf, defs, &nd, "UBO", ubo != W_STORAGE);
    def(buf, defs, &nd, "TEXEL", texel);
    if (save >= 0)
        def(buf, defs, &nd, "SAVE", save);
    nb_access acc[6];
    nb_buffer *bufs[6];
    uint32_t n = 0;
    for (uint32_t i = 0; i < nw; i++) {
        acc[n] = ubo ? NB_UNIFORM : NB_READ;
        bufs[n++] = bw[i];
    }
    for (int i = 0; i < nio; i++) {
        acc[n] = i >= nr ? NB_WRITE : texel ? NB_TEXEL : NB_READ;
        bufs[n++] = io[i];
    }
    nb_kernel *k = kern(save >= 0 ? "mlp_fwd" : "mlp_bwd", defs, n, acc, 24);
    run(k, (N / 4 + 63) / 64, B, 1, bufs, push);
    nb_kernel_destroy(k);
}

static void test_mlp_fwd(int save, int ubo)
{
    const uint64_t nx = (uint64_t)B * CIN * N, nh = (uint64_t)B * HID * N, ny = (uint64_t)B * COUT * N;
    float w1[HID * CIN], b1[HID], w2[COUT * HID], b2[COUT], *x = malloc(nx * 4);
    fill(w1, HID * CIN, 41, 0.6);
    fill(b1, HID, 42, 0.5);
    fill(w2, COUT * HID, 43, 0.6);
    fill(b2, COUT, 44, 0.5);
    fill(x, nx, 45, 2.0);
    double *h = malloc(nh * 8), *a = malloc(nh * 8), *out = malloc(ny * 8);
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            for (int k = 0; k < HID; k++) {
                double acc = b1[k];
                for (int i = 0; i < CIN; i++)
                    acc += (double)w1[k * CIN + i] * x[(b * CIN + i) * N + n];
                h[(b * HID + k) * N + n] = acc;
                a[(b * HID + k) * N + n] = gelu(acc);
            }
            for (int o = 0; o < COUT; o++) {
                double acc = b2[o];
                for (int k = 0; k < HID; k++)
                    acc += (double)w2[o * HID + k] * a[(b * HID + k) * N + n];
                out[(b * COUT + o) * N + n] = acc;
            }
        }
    nb_buffer *bw[2] = {0};
    uint32_t push[6] = {B, N, 0, 0, 0, 0}, nw = mlp_upload(w1, b1, w2, b2, ubo, bw, push);
    nb_buffer *bx = up(x, nx), *by = up(NULL, ny), *bh = up(NULL, nh);
    nb_buffer *io[3] = {bx, by, bh};
    mlp_run(save, ubo, bw, nw, io, 1, save ? 3 : 2, push);
    float *got = malloc(nh * 4);
    down(by, got, ny);
    double e = rel_err(got, out, ny);
    if (save) {
        down(bh, got, nh);
        e = fmax(e, rel_err(got, h, nh));
    }
    char name[64];
    snprintf(name, sizeof name, "%d->%d->%d %s, %s", CIN, HID, COUT, save ? "output and h" : "output",
             wmode_name[ubo]);
    report("mlp_fwd", name, e, 2e-6);
    nb_buffer *all[] = {bw[0], bw[1], bx, by, bh};
    for (int i = 0; i < 5; i++)
        nb_buffer_destroy(all[i]);
    free(x);
    free(h);
    free(a);
    free(out);
    free(got);
}

/* mlp_bwd: from g = dL/d out and the saved h, gh = (W2^T g) GELU'(h) against
 * the analytic gradient, and gx against central differences of
 * phi(x) = <g, out(x)>, position by position. */
static double mlp_phi(const float *w1, const float *b1, const float *w2, const double *x, const double *g)
{
    double phi = 0, a[HID];
    for (int k = 0; k < HID; k++) {
        double acc = b1[k];
        for (int i = 0; i < CIN; i++)
            acc += (double)w1[k * CIN + i] * x[i];
        a[k] = gelu(acc);
    }
    for (int o = 0; o < COUT; o++) {
        double acc = 0;
        for (int k = 0; k < HID; k++)
            acc += (double)w2[o * HID + k] * a[k];
        phi += g[o] * acc;
    }
    return phi;
}

static void test_mlp_bwd(int ubo)
{
    const uint64_t nx = (uint64_t)B * CIN * N, nh = (uint64_t)B * HID * N, ng = (uint64_t)B * COUT * N;
    float w1[HID * CIN], b1[HID], w2[COUT * HID], b2[COUT], *x = malloc(nx * 4), *g = malloc(ng * 4),
                                                          *h = malloc(nh * 4);
    fill(w1, HID * CIN, 46, 0.6);
    fill(b1, HID, 47, 0.5);
    fill(w2, COUT * HID, 48, 0.6);
    fill(b2, COUT, 49, 0.5);
    fill(x, nx, 50, 2.0);
    fill(g, ng, 51, 1.0);
    double *wgh = malloc(nh * 8), *wgx = malloc(nx * 8);
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            double xc[CIN], gc[COUT];
            for (int i = 0; i < CIN; i++)
                xc[i] = x[(b * CIN + i) * N + n];
            for (int o = 0; o < COUT; o++)
                gc[o] = g[(b * COUT + o) * N + n];
            for (int k = 0; k < HID; k++) {
                double acc = b1[k], s = 0;
                for (int i = 0; i < CIN; i++)
                    acc += (double)w1[k * CIN + i] * xc[i];
                h[(b * HID + k) * N + n] = (float)acc; /* the saved h, as the forward writes it */
                for (int o = 0; o < COUT; o++)
                    s += (double)w2[o * HID + k] * gc[o];
                wgh[(b * HID + k) * N + n] = s * gelu_grad((float)acc);
            }
            for (int i = 0; i < CIN; i++) {
                const double hh = 1e-5;
                double xp[CIN];
                memcpy(xp, xc, sizeof xp);
                xp[i] = xc[i] + hh;
                double f1 = mlp_phi(w1, b1, w2, xp, gc);
                xp[i] = xc[i] - hh;
                wgx[(b * CIN + i) * N + n] = (f1 - mlp_phi(w1, b1, w2, xp, gc)) / (2 * hh);
            }
        }
    nb_buffer *bw[2] = {0};
    uint32_t push[6] = {B, N, 0, 0, 0, 0}, nw = mlp_upload(w1, b1, w2, b2, ubo, bw, push);
    nb_buffer *bg = up(g, ng), *bh = up(h, nh), *bgh = up(NULL, nh), *bgx = up(NULL, nx);
    nb_buffer *io[4] = {bg, bh, bgh, bgx};
    mlp_run(-1, ubo, bw, nw, io, 2, 4, push);
    float *got = malloc(nh * 4);
    char name[64];
    down(bgh, got, nh);
    snprintf(name, sizeof name, "gh vs analytic, %s", wmode_name[ubo]);
    report("mlp_bwd", name, rel_err(got, wgh, nh), 1e-5);
    down(bgx, got, nx);
    snprintf(name, sizeof name, "gx vs finite differences, %s", wmode_name[ubo]);
    report("mlp_bwd", name, rel_err(got, wgx, nx), 1e-5);
    nb_buffer *all[] = {bw[0], bw[1], bg, bh, bgh, bgx};
    for (int i = 0; i < 6; i++)
        nb_buffer_destroy(all[i]);
    free(x);
    free(g);
    free(h);
    free(wgh);
    free(wgx);
    free(got);
}

/* linear_bwd_x computes dphi/du for phi(u) = <g, W h(u)>, h = GELU (DGELU)
 * or identity; checked against finite differences of phi. The layer maps
 * cin -> cout. */
static void test_linear_bwd_x(int cin, int cout, int dgelu, int ubo)
{
    const uint64_t nu = (uint64_t)B * cin * N, ng = (uint64_t)B * cout * N;
    float *W = malloc((size_t)cout * cin * 4), *u = malloc(nu * 4), *g = malloc(ng * 4);
    fill(W, (uint64_t)cout * cin, 11, 0.5);
    fill(u, nu, 13, 1.5);
    fill(g, ng, 14, 1.0);
    double *fd = malloc(nu * 8);
    for (uint64_t t = 0; t < nu; t++) { /* phi depends on u[t] only through h(u[t]) */
        uint64_t b = t / ((uint64_t)cin * N), i = (t / N) % (uint64_t)cin, n = t % N;
        double coef = 0;
        for (int o = 0; o < cout; o++)
            coef += W[o * cin + i] * (double)g[(b * cout + o) * N + n];
        double hh = 1e-4, a = u[t] + hh, z = u[t] - hh;
        fd[t] = coef * ((dgelu ? gelu(a) : a) - (dgelu ? gelu(z) : z)) / (2 * hh);
    }
    char buf[10][32];
    const char *defs[11];
    int nd = 0;
    def(buf, defs, &nd, "CIN", cin);
    def(buf, defs, &nd, "COUT", cout);
    def(buf, defs, &nd, "DGELU", dgelu);
    def(buf, defs, &nd, "UBO", ubo != W_STORAGE);
    def(buf, defs, &nd, "TEXEL", ubo == W_TEXEL);
    def(buf, defs, &nd, "BIAS", 1);
    /* [W | bias and gate slots (unused here)], at offset 3 in a storage buffer */
    uint32_t base = ubo ? 0 : 3, wn = (uint32_t)(cout * cin);
    uint64_t np = base + wn + 2 * (uint64_t)cout + 4;
    float *prm = calloc(np, 4);
    memcpy(prm + base, W, (size_t)wn * 4);
    nb_buffer *bw = up(prm, np), *bg = up(g, ng), *bx = up(NULL, nu), *bp = up(u, nu);
    nb_access in = ubo == W_TEXEL ? NB_TEXEL : NB_READ, acc[4] = {ubo ? NB_UNIFORM : NB_READ, in, NB_WRITE, in};
    nb_buffer *bufs[4] = {bw, bg, bx, bp};
    nb_kernel *k = kern("linear_bwd_x", defs, dgelu ? 4 : 3, acc, 12);
    uint32_t push[3] = {B, N, base};
    run(k, (N / 4 + 63) / 64, B, 1, bufs, push);
    float *got = malloc(nu * 4);
    down(bx, got, nu);
    char name[64];
    snprintf(name, sizeof name, "%d<-%d dgelu %d %s", cin, cout, dgelu, wmode_name[ubo]);
    report("linear_bwd_x", name, rel_err(got, fd, nu), 1e-5);
    nb_kernel_destroy(k);
    nb_buffer *all[] = {bw, bg, bx, bp};
    for (int i = 0; i < 4; i++)
        nb_buffer_destroy(all[i]);
    free(W);
    free(u);
    free(g);
    free(fd);
    free(got);
    free(prm);
}

/* linear_bwd_w + reduce_rows: d/dW, d/dbias, d/dgate of
 * phi = <g, W x + bias + gate * xg>, added into a gradient buffer that
 * already holds values (they accumulate). */
/* wg: the workgroup size (the WG define; 0: the kernel's default, 64) */
static void test_linear_bwd_w(int bias_on, int gate_on, int two, int twi, int dot, int lanes, int xgelu, int texel,
                              int wg)
{
    const uint64_t nx = B * CIN * N, ng = B * COUT * N;
    float *x = malloc(nx * 4), *g = malloc(ng * 4), *xg = malloc(ng * 4);
    fill(x, nx, 21, 1.0);
    fill(g, ng, 22, 1.0);
    fill(xg, ng, 23, 1.0);
    const int width = COUT * CIN + (bias_on + gate_on) * COUT;
    double want[COUT * CIN + 2 * COUT] = {0};
    /* phi is linear in W, bias and gate: its central difference is exact up
     * to rounding; computed in double over every position. */
    for (int o = 0; o < COUT; o++) {
        for (int i = 0; i < CIN; i++) {
            double s = 0;
            for (int b = 0; b < B; b++)
                for (int n = 0; n < N; n++)
                    s += (double)g[(b * COUT + o) * N + n] *
                         (xgelu ? gelu(x[(b * CIN + i) * N + n]) : x[(b * CIN + i) * N + n]);
            want[o * CIN + i] = s;
        }
        double sb = 0, sg = 0;
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++) {
                sb += g[(b * COUT + o) * N + n];
                sg += (double)g[(b * COUT + o) * N + n] * xg[(b * COUT + o) * N + n];
            }
        if (bias_on)
            want[COUT * CIN + o] = sb;
        if (gate_on)
            want[COUT * CIN + bias_on * COUT + o] = sg;
    }
    char buf[12][32];
    const char *defs[13];
    int nd = 0;
    if (wg)
        def(buf, defs, &nd, "WG", wg);
    def(buf, defs, &nd, "CIN", CIN);
    def(buf, defs, &nd, "COUT", COUT);
    def(buf, defs, &nd, "TEXEL", texel);
    def(buf, defs, &nd, "BIAS", bias_on);
    def(buf, defs, &nd, "GATE", gate_on);
    def(buf, defs, &nd, "CHUNK", 1024);
    def(buf, defs, &nd, "TWO", two);
    def(buf, defs, &nd, "TWI", twi);
    def(buf, defs, &nd, "DOT", dot);
    def(buf, defs, &nd, "XGELU", xgelu);
    /* each chunk of 1024 positions writes a row per phase (lanes / tiles) */
    const uint32_t tiles = ((COUT + two - 1) / two) * ((CIN + twi - 1) / twi);
    const uint32_t phases = tiles >= (uint32_t)lanes ? 1 : (uint32_t)lanes / tiles;
    def(buf, defs, &nd, "PH", (int)phases);
    const uint32_t chunks = (B * N + 1023) / 1024, rows = chunks * phases;
    nb_buffer *bg = up(g, ng), *bx = up(x, nx), *bxg = up(xg, ng), *bpart = up(NULL, (uint64_t)rows * width);
    /* the destination: weight at 5, bias at 40, gate at 50, starting at 1.0 */
    float dst0[64];
    for (int i = 0; i < 64; i++)
        dst0[i] = 1.0f;
    nb_buffer *bd = up(dst0, 64);
    nb_access in = texel ? NB_TEXEL : NB_READ, acc[4] = {in, in, NB_WRITE, in};
    nb_kernel *k = kern("linear_bwd_w", defs, gate_on ? 4 : 3, acc, 8);
    nb_access racc[2] = {NB_READ, NB_READ_WRITE};
    nb_kernel *kr = kern("reduce_rows", NULL, 2, racc, 28);
    nb_buffer *bufs[4] = {bg, bx, bpart, bxg};
    uint32_t push[2] = {B, N};
    nb_cmd *c;
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    uint32_t g1[3] = {chunks, 1, 1}, g2[3] = {(uint32_t)(width + 63) / 64, 1, 1};
    REQUIRE_OK(nb_cmd_dispatch(c, k, g1, bufs, push, NULL));
    uint32_t rp[7] = {rows, (uint32_t)width, COUT * CIN, 5, bias_on ? COUT : 0, 40, 50};
    nb_buffer *rb[2] = {bpart, bd};
    REQUIRE_OK(nb_cmd_dispatch(c, kr, g2, rb, rp, NULL));
    REQUIRE_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    float got[64];
    down(bd, got, 64);
    float sel[COUT * CIN + 2 * COUT];
    for (int j = 0; j < COUT * CIN; j++)
        sel[j] = got[5 + j] - 1.0f;
    for (int o = 0; o < COUT; o++) {
        if (bias_on)
            sel[COUT * CIN + o] = got[40 + o] - 1.0f;
        if (gate_on)
            sel[COUT * CIN + bias_on * COUT + o] = got[50 + o] - 1.0f;
    }
    int untouched = got[0] == 1.0f && got[4] == 1.0f && got[39] == 1.0f && got[63] == 1.0f;
    char name[128];
    char wgs[16] = "";
    if (wg)
        snprintf(wgs, sizeof wgs, ", WG %d", wg);
    snprintf(name, sizeof name, "bias %d gate %d%s, %dx%d %s tiles, %u rows%s%s", bias_on, gate_on,
             xgelu ? " GELU(x)" : "", two, twi, dot ? "float" : "vec4", rows, texel ? ", texel" : "", wgs);
    report("linear_bwd_w", name, rel_err(sel, want, (uint64_t)width), 1e-5);
    CHECK(untouched, "reduce_rows wrote outside its segments");
    nb_kernel_destroy(k);
    nb_kernel_destroy(kr);
    nb_buffer *all[] = {bg, bx, bxg, bpart, bd};
    for (int i = 0; i < 5; i++)
        nb_buffer_destroy(all[i]);
    free(x);
    free(g);
    free(xg);
}

static void test_ewise(void)
{
    const uint64_t n = 100003; /* not a multiple of the workgroup */
    float *a = malloc(n * 4), *b = malloc(n * 4), *o = malloc(n * 4), *got = malloc(n * 4);
    fill(a, n, 31, 8.0); /* past the erf's clamp at |x| / sqrt(2) = 3.9 */
    fill(b, n, 32, 1.0);
    fill(o, n, 33, 1.0);
    double *want = malloc(n * 8);
    static const int ops[3] = {2, 3, 4};
    static const char *names[3] = {"ACC (out += a)", "GELU", "GELU_BWD vs finite differences"};
    for (int t = 0; t < 3; t++) {
        char d0[16];
        snprintf(d0, sizeof d0, "OP=%d", ops[t]);
        const char *defs[2] = {d0, NULL};
        nb_access acc[3] = {NB_READ, ops[t] == 2 ? NB_READ_WRITE : NB_WRITE, NB_READ};
        nb_kernel *k = kern("ewise", defs, ops[t] == 4 ? 3 : 2, acc, 4);
        nb_buffer *ba = up(a, n), *bo = up(o, n), *bb = up(b, n);
        nb_buffer *bufs[3] = {ba, bo, bb};
        uint32_t push[1] = {(uint32_t)n};
        run(k, (uint32_t)((n + 1023) / 1024), 1, 1, bufs, push); /* 4 floats per invocation */
        down(bo, got, n);
        for (uint64_t i = 0; i < n; i++) {
            if (ops[t] == 2)
                want[i] = (double)o[i] + a[i];
            else if (ops[t] == 3)
                want[i] = gelu(a[i]);
            else
                want[i] = b[i] * (gelu(a[i] + 1e-5) - gelu(a[i] - 1e-5)) / 2e-5;
        }
        report("ewise", names[t], rel_err(got, want, n), ops[t] == 4 ? 1e-5 : 2e-6);
        if (ops[t] == 3) { /* the erf itself: GELU's error over 0.5 max(|x|, 1) */
            double e = 0;
            for (uint64_t i = 0; i < n; i++)
                e = fmax(e, fabs(got[i] - want[i]) / (0.5 * fmax(fabs(a[i]), 1.0)));
            report("ewise", "GELU: the erf's absolute error", e, 1e-6);
        }
        nb_kernel_destroy(k);
        nb_buffer_destroy(ba);
        nb_buffer_destroy(bo);
        nb_buffer_destroy(bb);
    }
    free(a);
    free(b);
    free(o);
    free(got);
    free(want);
}

static void test_grid(int texel)
{
    enum { CI = 3, NN = 44 };
    float x[2 * CI * NN], got[2 * (CI + 1) * NN];
    fill(x, 2 * CI * NN, 41, 1.0);
    const char *defs[3] = {"CIN=3", texel ? "TEXEL=1" : "TEXEL=0", NULL};
    nb_access acc[2] = {texel ? NB_TEXEL : NB_READ, NB_WRITE};
    nb_kernel *k = kern("grid", defs, 2, acc, 8);
    nb_buffer *bx = up(x, 2 * CI * NN), *bo = up(NULL, 2 * (CI + 1) * NN);
    nb_buffer *bufs[2] = {bx, bo};
    uint32_t push[2] = {2, NN};
    run(k, 1, 2, 1, bufs, push);
    down(bo, got, 2 * (CI + 1) * NN);
    double want[2 * (CI + 1) * NN];
    for (int b = 0; b < 2; b++)
        for (int c = 0; c <= CI; c++)
            for (int n = 0; n < NN; n++)
                want[(b * (CI + 1) + c) * NN + n] = c < CI ? x[(b * CI + c) * NN + n] : (double)n / NN;
    report("grid", texel ? "data channels + linspace(0,1,N+1)[:-1], texel" : "data channels + linspace(0,1,N+1)[:-1]",
           rel_err(got, want, 2 * (CI + 1) * NN), 1e-7);
    nb_kernel_destroy(k);
    nb_buffer_destroy(bx);
    nb_buffer_destroy(bo);
}

/* NOBLE's input channels at the published length, against nm_embed_ref.
 * The phase is reduced exactly (shaders/nerf_input.comp), so what is left
 * is the device's sin and cos: lavapipe's are good to ~1e-5 (measured
 * 9.6e-6; an fp32 phase without the exact reduction was off by 7.6e-4 at
 * the highest frequency). Vulkan allows 2^-11 on [-pi, pi], so a device at
 * that limit would fail this bound. */
static void test_nerf_input(void)
{
    enum { NB = 4, NN = 8580 };
    nm_embedding e;
    nm_embedding_default(&e);
    const double mn[3] = {-110, 22, 0.7}, mx[3] = {270, 96, 1.0};
    for (int i = 0; i < 3; i++) {
        e.min[i] = mn[i];
        e.max[i] = mx[i];
    }
    enum { NW = 11 };
    const uint32_t C = nm_embedding_channels(&e);
    /* the extremes of the scaler, a zero step, and values outside the fitted range */
    const double codes[NB * 3] = {270, 96, 1.0, -110, 22, 0.7, 0, 50, 0.85, 300, 10, 1.2};
    static float cur[NB * NN], w[NB * NW * 4], got[NB * (23 + 1) * NN];
    static double curd[NB * NN], want[NB * 23 * NN];
    for (int b = 0; b < NB; b++)
        for (int n = 0; n < NN; n++) {
            cur[b * NN + n] = (n >= 750 && n < 7417) ? (float)codes[b * 3] : 0.0f;
            curd[b * NN + n] = cur[b * NN + n];
        }
    float codesf[NB * 3];
    for (int i = 0; i < NB * 3; i++)
        codesf[i] = (float)codes[i];
    nm_embed_cycles(&e, codesf, NB, NN, w);
    nm_embed_ref(&e, curd, codes, NB, NN, want);
    const char *defs[3] = {"NW=11", "GRID=1", NULL};
    nb_access acc[3] = {NB_READ, NB_READ, NB_WRITE};
    nb_kernel *k = kern("nerf_input", defs, 3, acc, 12);
    nb_buffer *bc = up(cur, NB * NN), *bw = up(w, NB * NW * 4), *bo = up(NULL, NB * (C + 1) * NN);
    nb_buffer *bufs[3] = {bc, bw, bo};
    uint32_t push[3] = {NB, NN, 0};
    float inv = (float)(1.0 / e.current_scale);
    memcpy(&push[2], &inv, 4);
    run(k, (NN + 63) / 64, NB, 1, bufs, push);
    down(bo, got, NB * (C + 1) * NN);
    double worst = 0, worst_grid = 0;
    for (int b = 0; b < NB; b++)
        for (uint32_t c = 0; c <= C; c++)
            for (int n = 0; n < NN; n++) {
                double g = got[(b * (C + 1) + c) * NN + n];
                if (c == C)
                    worst_grid = fmax(worst_grid, fabs(g - (double)n / NN));
                else
                    worst = fmax(worst, fabs(g - want[(b * C + c) * NN + n]));
            }
    report("nerf_input", "23 channels, N 8580, absolute", worst, 5e-5);
    report("nerf_input", "grid channel", worst_grid, 1e-7);
    nb_kernel_destroy(k);
    nb_buffer_destroy(bc);
    nb_buffer_destroy(bw);
    nb_buffer_destroy(bo);
}

/* --------------------------------------------------------------- blocks */

/* One FNO block's pointwise part (block_fwd) and its backward (block_bwd),
 * at width BC and channel-MLP width BE. */
enum { BC = 5, BE = 3 };

typedef struct blk_w {
    double ws[BC * BC], bs[BC], g[BC], w0[BE * BC], b0[BE], w1[BC * BE], b1[BC];
} blk_w;


/* One position: z = Ws x + bs + s, y = act(z), h = W0 y + b0, a = GELU(h),
 * q = W1 a + b1 + g x, out = act(q). */
typedef struct blk_pos {
    double z[BC], y[BC], h[BE], a[BE], q[BC], out[BC];
} blk_pos;

static void blk_ref(const blk_w *w, int act, const double *x, const double *s, blk_pos *p)
{
    for (int o = 0; o < BC; o++) {
        double acc = w->bs[o] + s[o];
        for (int i = 0; i < BC; i++)
            acc += w->ws[o * BC + i] * x[i];
        p->z[o] = acc;
        p->y[o] = act ? gelu(acc) : acc;
    }
    for (int k = 0; k < BE; k++) {
        double acc = w->b0[k];
        for (int i = 0; i < BC; i++)
            acc += w->w0[k * BC + i] * p->y[i];
        p->h[k] = acc;
        p->a[k] = gelu(acc);
    }
    for (int o = 0; o < BC; o++) {
        double acc = w->b1[o] + w->g[o] * x[o];
        for (int k = 0; k < BE; k++)
            acc += w->w1[o * BE + k] * p->a[k];
        p->q[o] = acc;
        p->out[o] = act ? gelu(acc) : acc;
    }
}

static double blk_phi(const blk_w *w, int act, const double *x, const double *s, const double *gv)
{
    blk_pos p;
    blk_ref(w, act, x, s, &p);
    double phi = 0;
    for (int o = 0; o < BC; o++)
        phi += gv[o] * p.out[o];
    return phi;
}

/* The weights as the kernels read them: three uniform buffers laid out
 * [W | bias | gate], or one parameter buffer at scattered offsets (push). */
static void blk_upload(const blk_w *w, int ubo, nb_buffer **wb, uint32_t *nwb, uint32_t push[9])
{
    const double *src[7] = {w->ws, w->bs, w->w0, w->b0, w->w1, w->b1, w->g};
    const uint32_t len[7] = {BC * BC, BC, BE * BC, BE, BC * BE, BC, BC};
    if (ubo) {
        float us[BC * BC + 2 * BC + 4] = {0}, u0[BE * BC + 2 * BE + 4] = {0}, u1[BC * BE + 2 * BC + 4] = {0};
        for (int i = 0; i < BC * BC; i++)
            us[i] = (float)w->ws[i];
        for (int i = 0; i < BE * BC; i++) {
            u0[i] = (float)w->w0[i];
            u1[i] = (float)w->w1[i];
        }
        for (int o = 0; o < BC; o++) {
            us[BC * BC + o] = (float)w->bs[o];
            us[BC * BC + BC + o] = (float)w->g[o];
            u1[BC * BE + o] = (float)w->b1[o];
            u1[BC * BE + BC + o] = (float)w->g[o];
        }
        for (int k = 0; k < BE; k++)
            u0[BE * BC + k] = (float)w->b0[k];
        wb[0] = up(us, sizeof us / sizeof *us);
        wb[1] = up(u0, sizeof u0 / sizeof *u0);
        wb[2] = up(u1, sizeof u1 / sizeof *u1);
        *nwb = 3;
        for (int i = 2; i < 9; i++)
            push[i] = 0;
        return;
    }
    float prm[7 * 2 + BC * BC + BE * BC + BC * BE + 4 * BC + BE] = {0};
    uint32_t at = 3; /* nonzero offsets, with a gap after each tensor */
    for (int t = 0; t < 7; t++) {
        push[2 + t] = at;
        for (uint32_t i = 0; i < len[t]; i++)
            prm[at + i] = (float)src[t][i];
        at += len[t] + 1;
    }
    wb[0] = up(prm, at);
    *nwb = 1;
}

static void blk_defs(char buf[][32], const char **defs, int act, int ubo, int save_z, int gv2)
{
    int nd = 0;
    def(buf, defs, &nd, "C", BC);
    def(buf, defs, &nd, "E", BE);
    def(buf, defs, &nd, "ACT", act);
    def(buf, defs, &nd, "UBO", ubo != W_STORAGE);
    def(buf, defs, &nd, "TEXEL", ubo == W_TEXEL);
    if (save_z >= 0)
        def(buf, defs, &nd, "SAVE_Z", save_z);
    else
        def(buf, defs, &nd, "GV2", gv2);
}

static void test_block(int act, int ubo, int gv2)
{
    const uint64_t nc = (uint64_t)B * BC * N, ne = (uint64_t)B * BE * N;
    blk_w w;
    uint64_t seed = 70 + (uint64_t)(2 * act + ubo);
    double *all[7] = {w.ws, w.bs, w.w0, w.b0, w.w1, w.b1, w.g};
    const int len[7] = {BC * BC, BC, BE * BC, BE, BC * BE, BC, BC};
    const double scale[7] = {0.6, 0.5, 0.6, 0.5, 0.6, 0.5, 1.0};
    for (int t = 0; t < 7; t++)
        for (int i = 0; i < len[t]; i++) /* fp32-representable, as uploaded */
            all[t][i] = (float)(scale[t] * nbt_rand(&seed));
    float *x = malloc(nc * 4), *s = malloc(nc * 4), *gv = malloc(nc * 4);
    fill(x, nc, 80, 2.0);
    fill(s, nc, 81, 1.0);
    fill(gv, nc, 82, 1.0);

    /* reference, position by position */
    double *want[8];
    const uint64_t sizes[8] = {nc, nc, nc, ne, nc, ne, nc, nc}; /* z out | y a gq ga gz gx */
    for (int t = 0; t < 8; t++)
        want[t] = malloc(sizes[t] * 8);
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            double xc[BC], sc[BC], gc[BC];
            for (int i = 0; i < BC; i++) {
                uint64_t at = ((uint64_t)b * BC + i) * N + n;
                xc[i] = x[at];
                sc[i] = s[at];
                gc[i] = gv[at];
            }
            blk_pos p;
            blk_ref(&w, act, xc, sc, &p);
            double gq[BC], ga[BE];
            for (int o = 0; o < BC; o++)
                gq[o] = gc[o] * (act ? gelu_grad(p.q[o]) : 1.0);
            for (int k = 0; k < BE; k++) {
                double acc = 0;
                for (int o = 0; o < BC; o++)
                    acc += w.w1[o * BE + k] * gq[o];
                ga[k] = acc * gelu_grad(p.h[k]);
            }
            for (int i = 0; i < BC; i++) {
                uint64_t at = ((uint64_t)b * BC + i) * N + n;
                want[0][at] = p.z[i];
                want[1][at] = p.out[i];
                want[2][at] = p.y[i];
                want[4][at] = gq[i];
                /* gz = dphi/ds and gx = dphi/dx by central differences */
                const double hh = 1e-5;
                double xp[BC], sp[BC];
                memcpy(xp, xc, sizeof xp);
                memcpy(sp, sc, sizeof sp);
                sp[i] = sc[i] + hh;
                double f1 = blk_phi(&w, act, xc, sp, gc);
                sp[i] = sc[i] - hh;
                double f0 = blk_phi(&w, act, xc, sp, gc);
                want[6][at] = (f1 - f0) / (2 * hh);
                xp[i] = xc[i] + hh;
                f1 = blk_phi(&w, act, xp, sc, gc);
                xp[i] = xc[i] - hh;
                f0 = blk_phi(&w, act, xp, sc, gc);
                want[7][at] = (f1 - f0) / (2 * hh);
            }
            for (int k = 0; k < BE; k++) {
                uint64_t at = ((uint64_t)b * BE + k) * N + n;
                want[3][at] = p.a[k];
                want[5][at] = ga[k];
            }
        }

    char buf[8][32];
    const char *defs[9];
    uint32_t push[9] = {B, N}, nwb;
    nb_buffer *wb[3] = {0};
    blk_upload(&w, ubo, wb, &nwb, push);
    const char *var = wmode_name[ubo];
    const nb_access rd = ubo == W_TEXEL ? NB_TEXEL : NB_READ;
    char name[64];

    /* forward, for inference (output only) and for training (z saved too) */
    nb_buffer *bx = up(x, nc), *bs = up(s, nc), *bg = up(gv, nc), *bo = up(NULL, nc), *bz = up(NULL, nc);
    nb_access acc[16];
    nb_buffer *bufs[16];
    float *got = malloc(nc * 4);
    uint32_t n = 0;
    for (int save_z = 0; save_z < 2; save_z++) {
        blk_defs(buf, defs, act, ubo, save_z, 0);
        n = 0;
        for (uint32_t i = 0; i < nwb; i++) {
            acc[n] = ubo ? NB_UNIFORM : NB_READ;
            bufs[n++] = wb[i];
        }
        nb_buffer *fio[4] = {bx, bs, bo, bz};
        for (int i = 0; i < 3 + save_z; i++) {
            acc[n] = i < 2 ? rd : NB_WRITE;
            bufs[n++] = fio[i];
        }
        nb_kernel *k = kern("block_fwd", defs, n, acc, 36);
        run(k, (N / 4 + 63) / 64, B, 1, bufs, push);
        nb_kernel_destroy(k);
        down(bo, got, nc);
        double e = rel_err(got, want[1], nc);
        if (save_z) {
            down(bz, got, nc);
            e = fmax(e, rel_err(got, want[0], nc));
        }
        snprintf(name, sizeof name, "act %d, %s, %s", act, save_z ? "output and z" : "output", var);
        report("block_fwd", name, e, 2e-6);
    }

    /* backward from the saved z */
    blk_defs(buf, defs, act, ubo, -1, gv2);
    /* GV2: the kernel gets gv as two buffers to add, gv - r and r */
    float *gva = malloc(nc * 4), *gvb = malloc(nc * 4);
    fill(gvb, nc, 83, 1.0);
    for (uint64_t i = 0; i < nc; i++)
        gva[i] = gv2 ? gv[i] - gvb[i] : gv[i];
    nb_buffer *bga = up(gva, nc), *bgb = up(gvb, nc);
    /* outputs: a, gq, ga, gz, gx (want[3..7]; y, want[2], is not written) */
    nb_buffer *outs[5];
    for (int t = 0; t < 5; t++)
        outs[t] = up(NULL, sizes[3 + t]);
    n = nwb;
    nb_buffer *bio[4] = {bz, bx, bga, bgb};
    for (int i = 0; i < 3 + gv2; i++) {
        acc[n] = rd;
        bufs[n++] = bio[i];
    }
    for (int t = 0; t < 5; t++) {
        acc[n] = NB_WRITE;
        bufs[n++] = outs[t];
    }
    nb_kernel *k = kern("block_bwd", defs, n, acc, 36);
    run(k, (N / 4 + 63) / 64, B, 1, bufs, push);
    nb_kernel_destroy(k);
    static const char *what[3] = {"a recomputed", "gq, ga vs analytic", "gz, gx vs finite differences"};
    static const int first[4] = {0, 1, 3, 5}; /* outputs of each check */
    for (int pair = 0; pair < 3; pair++) {
        double e = 0;
        for (int t = first[pair]; t < first[pair + 1]; t++) {
            down(outs[t], got, sizes[3 + t]);
            e = fmax(e, rel_err(got, want[3 + t], sizes[3 + t]));
        }
        snprintf(name, sizeof name, "act %d%s, %s, %s", act, gv2 ? " gv2" : "", what[pair], var);
        report("block_bwd", name, e, pair ? 1e-5 : 2e-6);
    }
    for (int t = 0; t < 5; t++)
        nb_buffer_destroy(outs[t]);
    nb_buffer_destroy(bga);
    nb_buffer_destroy(bgb);
    free(gva);
    free(gvb);
    nb_buffer *rest[8] = {bx, bs, bg, bo, bz, wb[0], wb[1], wb[2]};
    for (int i = 0; i < 8; i++)
        nb_buffer_destroy(rest[i]);
    for (int t = 0; t < 8; t++)
        free(want[t]);
    free(x);
    free(s);
    free(gv);
    free(got);
}

/* ------------------------------------------------------------- spectral */

/* traces and channels of a case (test_spectral); arrays sized for the largest */
enum { SBMAX = 5, SCMAX = 7, SM = 9, SN = 32, SNC = SN / 2 + 1 };
static int SB = 3, SC = 3;

/* s[b][o][n] = irfft(mix(rfft(x)/N)) in double, as the reference does it:
 * the kept bins of each input row, mixed, then the inverse */
static void spec_ref(const double *W, const double *x, double *s)
{
    double X[SBMAX * SCMAX * SM][2], Y[SCMAX * SM][2];
    for (int b = 0; b < SB; b++) {
        for (int i = 0; i < SC; i++)
            for (int k = 0; k < SM; k++) {
                double xr = 0, xi = 0;
                for (int m = 0; m < SN; m++) {
                    double ang = 2 * M_PI * k * m / SN;
                    xr += x[(b * SC + i) * SN + m] * cos(ang) / SN;
                    xi -= x[(b * SC + i) * SN + m] * sin(ang) / SN;
                }
                X[(b * SC + i) * SM + k][0] = xr;
                X[(b * SC + i) * SM + k][1] = xi;
            }
        for (int o = 0; o < SC; o++)
            for (int k = 0; k < SM; k++) {
                double yr = 0, yi = 0;
                for (int i = 0; i < SC; i++) {
                    const double *w = W + ((i * SC + o) * SM + k) * 2, *v = X[(b * SC + i) * SM + k];
                    yr += v[0] * w[0] - v[1] * w[1];
                    yi += v[0] * w[1] + v[1] * w[0];
                }
                Y[o * SM + k][0] = yr;
                Y[o * SM + k][1] = k == 0 ? 0 : yi;
            }
        for (int o = 0; o < SC; o++)
            for (int n = 0; n < SN; n++) {
                double v = 0;
                for (int k = 0; k < SM; k++) {
                    double ang = 2 * M_PI * k * n / SN;
                    v += (k == 0 ? 1 : 2) * (Y[o * SM + k][0] * cos(ang) - Y[o * SM + k][1] * sin(ang));
                }
                s[(b * SC + o) * SN + n] = v;
            }
    }
}

static double spec_phi(const double *W, const double *x, const double *gs)
{
    double s[SBMAX * SCMAX * SN], phi = 0;
    spec_ref(W, x, s);
    for (int i = 0; i < SB * SC * SN; i++)
        phi += gs[i] * s[i];
    return phi;
}

/* One case: sb traces, sc channels. */
static void test_spectral_case(int texel, int sb, int sc)
{
    SB = sb;
    SC = sc;
    const int nx = SB * SC * SN, nw = SC * SC * SM * 2;
    float x[SBMAX * SCMAX * SN], gs[SBMAX * SCMAX * SN], W[SCMAX * SCMAX * SM * 2 + 8];
    fill(x, nx, 51, 1.0);
    fill(gs, nx, 52, 1.0);
    fill(W, nw + 8, 53, 0.7);
    /* the weights at an offset in the parameter buffer (even for texel reads:
     * two complex values to a texel) */
    const int woff = texel ? 8 : 7;
    char var[48];
    snprintf(var, sizeof var, ", %d traces, %d channels%s", sb, sc, texel ? ", texel" : "");
    char name[120];
    double xd[SBMAX * SCMAX * SN], gsd[SBMAX * SCMAX * SN], Wd[SCMAX * SCMAX * SM * 2], want[SBMAX * SCMAX * SN];
    for (int i = 0; i < nx; i++) {
        xd[i] = x[i];
        gsd[i] = gs[i];
    }
    for (int i = 0; i < nw; i++)
        Wd[i] = W[woff + i];
    spec_ref(Wd, xd, want);

    /* two traces per invocation (the second group has one), one input per
     * weight-gradient invocation: partial and several groups */
    char d[6][32];
    snprintf(d[0], 32, "C=%d", SC);
    snprintf(d[1], 32, "M=%d", SM);
    snprintf(d[2], 32, "BACKWARD=0");
    snprintf(d[3], 32, "BG=2");
    snprintf(d[4], 32, "IG=1");
    snprintf(d[5], 32, "TEXEL=%d", texel);
    const nb_access in = texel ? NB_TEXEL : NB_READ;
    const char *fdefs[6] = {d[0], d[1], d[2], d[3], d[5], NULL};
    nb_access facc[4] = {in, in, NB_WRITE, NB_WRITE};
    nb_kernel *kf = kern("spectral_mix", fdefs, 4, facc, 16);
    char d3[32] = "BACKWARD=1";
    const char *bdefs[6] = {d[0], d[1], d3, d[3], d[5], NULL};
    nb_access bacc[3] = {in, in, NB_WRITE};
    nb_kernel *kb = kern("spectral_mix", bdefs, 3, bacc, 16);
    const char *wdefs[5] = {d[0], d[1], d[4], d[5], NULL};
    nb_access wacc[3] = {in, in, NB_READ_WRITE};
    nb_kernel *kw = kern("spectral_wgrad", wdefs, 3, wacc, 12);
    nb_fft *r2c, *c2r;
    REQUIRE_OK(nb_fft_plan(ctx, SN, SB * SC, NB_FFT_R2C, NB_FP32, &r2c));
    REQUIRE_OK(nb_fft_plan(ctx, SN, SB * SC, NB_FFT_C2R, NB_FP32, &c2r));
    nb_buffer *bp = up(W, nw + woff), *bx = up(x, nx), *bF = up(NULL, SB * SC * SNC * 2),
              *bY = up(NULL, SB * SC * SNC * 2), *bS = up(NULL, (SB + 1) * SC * SM * 2), *bs = up(NULL, nx),
              *bgs = up(gs, nx), *bgrad = up(NULL, nw + woff);
    float inv_n = 1.0f / SN;
    uint32_t mp[4] = {SB, SNC, 0, woff};
    memcpy(&mp[2], &inv_n, 4);
    nb_cmd *c;
    /* forward: R2C, zero-fill, mix, C2R */
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    REQUIRE_OK(nb_cmd_fft(c, r2c, bx, bF, NULL));
    REQUIRE_OK(nb_cmd_fill(c, bY, 0, SB * SC * SNC * 8, 0));
    /* S holds one trace more than the batch, as a sentinel: the partial
     * group of traces must not write past the batch */
    float sent[(SBMAX + 1) * SCMAX * SM * 2];
    for (int i = 0; i < (SB + 1) * SC * SM * 2; i++)
        sent[i] = 12345.0f;
    REQUIRE_OK(nb_buffer_upload(bS, 0, sent, (size_t)(SB + 1) * SC * SM * 2 * sizeof(float)));
    nb_buffer *fb[4] = {bp, bF, bY, bS};
    uint32_t g[3] = {(SM * ((SB + 1) / 2) + 63) / 64, 1, 1};
    REQUIRE_OK(nb_cmd_dispatch(c, kf, g, fb, mp, NULL));
    REQUIRE_OK(nb_cmd_fft(c, c2r, bY, bs, NULL));
    REQUIRE_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    float got[SBMAX * SCMAX * SN];
    down(bs, got, nx);
    snprintf(name, sizeof name, "forward: R2C, mix, C2R%s", var);
    report("spectral conv", name, rel_err(got, want, nx), 2e-6);
    down(bS, sent, (SB + 1) * SC * SM * 2);
    int past = 0;
    for (int i = SB * SC * SM * 2; i < (SB + 1) * SC * SM * 2; i++)
        past += sent[i] != 12345.0f;
    snprintf(name, sizeof name, "nothing written past the batch%s", var);
    report("spectral_mix", name, past, 0);

    /* backward: R2C(gs), wgrad, mix BACKWARD, C2R -> dx */
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    REQUIRE_OK(nb_cmd_fft(c, r2c, bgs, bF, NULL));
    REQUIRE_OK(nb_cmd_fill(c, bgrad, 0, (uint64_t)(nw + woff) * 4, 0));
    nb_buffer *wb[3] = {bS, bF, bgrad};
    uint32_t wp[3] = {SB, SNC, woff}, gw[3] = {(SM * SC + 63) / 64, 1, 1};
    REQUIRE_OK(nb_cmd_dispatch(c, kw, gw, wb, wp, NULL));
    REQUIRE_OK(nb_cmd_fill(c, bY, 0, SB * SC * SNC * 8, 0));
    nb_buffer *bb[3] = {bp, bF, bY};
    REQUIRE_OK(nb_cmd_dispatch(c, kb, g, bb, mp, NULL));
    REQUIRE_OK(nb_cmd_fft(c, c2r, bY, bs, NULL));
    REQUIRE_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    float dx[SBMAX * SCMAX * SN], dW[SCMAX * SCMAX * SM * 2 + 8];
    down(bs, dx, nx);
    down(bgrad, dW, nw + woff);
    double fdx[SBMAX * SCMAX * SN], fdw[SCMAX * SCMAX * SM * 2];
    float dxs[SBMAX * SCMAX * SN], dWs[SCMAX * SCMAX * SM * 2];
    int nfx = 0, nfw = 0;
    const double h = 1e-5;
    for (int i = 0; i < nx; i++) {
        double keep = xd[i];
        xd[i] = keep + h;
        double p = spec_phi(Wd, xd, gsd);
        xd[i] = keep - h;
        double m = spec_phi(Wd, xd, gsd);
        xd[i] = keep;
        fdx[nfx] = (p - m) / (2 * h);
        dxs[nfx++] = dx[i];
    }
    for (int i = 0; i < nw; i++) {
        double keep = Wd[i];
        Wd[i] = keep + h;
        double p = spec_phi(Wd, xd, gsd);
        Wd[i] = keep - h;
        double m = spec_phi(Wd, xd, gsd);
        Wd[i] = keep;
        fdw[nfw] = (p - m) / (2 * h);
        dWs[nfw++] = dW[woff + i];
    }
    snprintf(name, sizeof name, "input gradient vs finite differences%s", var);
    report("spectral conv", name, rel_err(dxs, fdx, nfx), 1e-5);
    snprintf(name, sizeof name, "weight gradient vs finite differences%s", var);
    report("spectral_wgrad", name, rel_err(dWs, fdw, nfw), 1e-5);
    nb_kernel_destroy(kf);
    nb_kernel_destroy(kb);
    nb_kernel_destroy(kw);
    nb_buffer *all[] = {bp, bx, bF, bY, bS, bs, bgs, bgrad};
    for (int i = 0; i < 8; i++)
        nb_buffer_destroy(all[i]);
}

/* 3 traces of 3 channels: partial groups and tiles everywhere; 5 of 7:
 * the CPU kernels' whole register tiles (6 outputs by 2 traces; 3 by 4)
 * beside partial ones */
static void test_spectral(int texel)
{
    test_spectral_case(texel, 3, 3);
    test_spectral_case(texel, 5, 7);
}

/* ----------------------------------------------------------------- loss */

/* wg: the workgroup size (the WG define; 0: the kernel's default, 64) */
static void test_loss(int p, int wg)
{
    enum { LB = 3, PER = 5000 }; /* two chunks of 4096 per trace */
    float yh[LB * PER], yt[LB * PER];
    fill(yt, LB * PER, 61, 1.0);
    for (int i = 0; i < LB * PER; i++)
        yh[i] = yt[i] + (float)(0.2 * sin(0.01 * i)) - 0.05f;
    double yhd[LB * PER], ytd[LB * PER], gref[LB * PER];
    for (int i = 0; i < LB * PER; i++) {
        yhd[i] = yh[i];
        ytd[i] = yt[i];
    }
    double lref = nm_ref_lp_loss(yhd, ytd, LB, PER, p, gref);
    const uint32_t chunks = (PER + 4095) / 4096;
    nb_buffer *bh = up(yh, LB * PER), *bt = up(yt, LB * PER), *bpart = up(NULL, LB * chunks * 2),
              *bst = up(NULL, LB * 2), *bg = up(NULL, LB * PER);
    nb_kernel *k[3];
    for (int pass = 1; pass <= 3; pass++) {
        char d0[16], d1[16], d2[16];
        snprintf(d0, sizeof d0, "P=%d", p);
        snprintf(d1, sizeof d1, "PASS=%d", pass);
        snprintf(d2, sizeof d2, "WG=%d", wg);
        const char *defs[4] = {d0, d1, wg ? d2 : NULL, NULL};
        nb_access acc[5] = {NB_READ, NB_READ, pass == 1 ? NB_WRITE : NB_READ, pass == 2 ? NB_WRITE : NB_READ,
                            NB_WRITE};
        k[pass - 1] = kern("lp_loss", defs, pass == 3 ? 5 : 4, acc, 16);
    }
    nb_buffer *bufs[5] = {bh, bt, bpart, bst, bg};
    uint32_t push[4] = {LB, PER, chunks, 4096};
    nb_cmd *c;
    REQUIRE_OK(nb_cmd_begin(ctx, 0, &c));
    const uint32_t w = wg ? (uint32_t)wg : 64;
    uint32_t g1[3] = {chunks, LB, 1}, g2[3] = {(LB + w - 1) / w, 1, 1}, g3[3] = {(PER + w - 1) / w, LB, 1};
    REQUIRE_OK(nb_cmd_dispatch(c, k[0], g1, bufs, push, NULL));
    REQUIRE_OK(nb_cmd_dispatch(c, k[1], g2, bufs, push, NULL));
    REQUIRE_OK(nb_cmd_dispatch(c, k[2], g3, bufs, push, NULL));
    REQUIRE_OK(nb_cmd_submit(c));
    nb_cmd_destroy(c);
    float st[LB * 2], gg[LB * PER];
    down(bst, st, LB * 2);
    down(bg, gg, LB * PER);
    double l = 0;
    for (int b = 0; b < LB; b++)
        l += st[2 * b];
    /* the gradient against finite differences of the double loss */
    double fd[LB * PER];
    for (int i = 0; i < LB * PER; i++) {
        double keep = yhd[i];
        yhd[i] = keep + 1e-6;
        double lp = nm_ref_lp_loss(yhd, ytd, LB, PER, p, NULL);
        yhd[i] = keep - 1e-6;
        double lm = nm_ref_lp_loss(yhd, ytd, LB, PER, p, NULL);
        yhd[i] = keep;
        fd[i] = (lp - lm) / 2e-6;
    }
    char name[64], wgs[16] = "";
    if (wg)
        snprintf(wgs, sizeof wgs, ", WG %d", wg);
    snprintf(name, sizeof name, "relative L%d, value%s", p, wgs);
    report("lp_loss", name, fabs(l - lref) / lref, 1e-5);
    snprintf(name, sizeof name, "relative L%d, gradient vs finite differences%s", p, wgs);
    report("lp_loss", name, rel_err(gg, fd, LB * PER), 1e-5);
    for (int i = 0; i < 3; i++)
        nb_kernel_destroy(k[i]);
    nb_buffer *all[] = {bh, bt, bpart, bst, bg};
    for (int i = 0; i < 5; i++)
        nb_buffer_destroy(all[i]);
}

static void test_adamw(int texel)
{
    enum { P = 70001 };
    float *p = malloc(P * 4), *g = malloc(P * 4), *m = malloc(P * 4), *v = malloc(P * 4), *got = malloc(P * 4);
    fill(p, P, 71, 1.0);
    fill(g, P, 72, 3.0);
    fill(m, P, 73, 0.1);
    for (int i = 0; i < P; i++)
        v[i] = (float)fabs(nbt_rand(&(uint64_t){(uint64_t)i + 5})) * 0.01f;
    double *pd = malloc(P * 8), *gd = malloc(P * 8), *md = malloc(P * 8), *vd = malloc(P * 8);
    for (int i = 0; i < P; i++) {
        pd[i] = p[i];
        gd[i] = g[i];
        md[i] = m[i];
        vd[i] = v[i];
    }
    nm_adamw opt = {.lr = 4e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-6, .weight_decay = 0.05};
    const uint64_t step = 7;
    nm_ref_adamw(&opt, step, P, pd, gd, md, vd);
    nb_access acc[4] = {NB_READ_WRITE, texel ? NB_TEXEL : NB_READ, NB_READ_WRITE, NB_READ_WRITE};
    const char *defs[2] = {texel ? "TEXEL=1" : "TEXEL=0", NULL};
    nb_kernel *k = kern("adamw", defs, 4, acc, 36);
    nb_buffer *bp = up(p, P), *bg = up(g, P), *bm = up(m, P), *bv = up(v, P);
    const double bc1 = 1 - pow(opt.beta1, step), bc2 = 1 - pow(opt.beta2, step);
    float f[8] = {(float)opt.beta1, (float)opt.beta2, (float)(1 - opt.beta1), (float)(1 - opt.beta2), (float)opt.eps,
                  (float)(1 - opt.lr * opt.weight_decay), (float)(opt.lr / bc1), (float)(1 / sqrt(bc2))};
    uint32_t push[9] = {P};
    memcpy(&push[1], f, sizeof f);
    nb_buffer *bufs[4] = {bp, bg, bm, bv};
    run(k, ((P + 3) / 4 + 255) / 256, 1, 1, bufs, push); /* P is not a multiple of 4 */
    down(bp, got, P);
    double e = 0;
    for (int i = 0; i < P; i++)
        e = fmax(e, fabs(got[i] - pd[i]));
    report("adamw", texel ? "step 7, weight decay 0.05, parameters, texel" : "step 7, weight decay 0.05, parameters", e, 1e-6);
    float *gm = malloc(P * 4), *gv = malloc(P * 4);
    down(bm, gm, P);
    down(bv, gv, P);
    double em = 0, ev = 0, sm = 0, sv = 0;
    for (int i = 0; i < P; i++) {
        em = fmax(em, fabs(gm[i] - md[i]));
        ev = fmax(ev, fabs(gv[i] - vd[i]));
        sm = fmax(sm, fabs(md[i]));
        sv = fmax(sv, fabs(vd[i]));
    }
    report("adamw", texel ? "first moment, of its largest entry, texel" : "first moment, of its largest entry", em / sm, 1e-6);
    report("adamw", texel ? "second moment, of its largest entry, texel" : "second moment, of its largest entry", ev / sv, 1e-6);
    free(gm);
    free(gv);
    nb_kernel_destroy(k);
    nb_buffer_destroy(bp);
    nb_buffer_destroy(bg);
    nb_buffer_destroy(bm);
    nb_buffer_destroy(bv);
    free(p);
    free(g);
    free(m);
    free(v);
    free(got);
    free(pd);
    free(gd);
    free(md);
    free(vd);
}

/* NOBLE_TEST_KERNELS=name,name,...: only the cases of those kernels (while
 * a backend's kernels are being written); unset: every case. */
static int want(const char *kernel)
{
    const char *f = getenv("NOBLE_TEST_KERNELS");
    if (!f || !*f)
        return 1;
    size_t n = strlen(kernel);
    for (const char *p = f; (p = strstr(p, kernel)); p += n)
        if ((p == f || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
    return 0;
}

int main(void)
{
    ctx = nbt_context();
    if (nb_context_backend(ctx) == NB_BACKEND_CPU)
        REQUIRE_OK(nm_cpu_kernels_register());
    printf("  kernel           case                                     error     bound\n");
    for (int save = 0; save < 2 && want("mlp_fwd"); save++)
        for (int mode = W_STORAGE; mode <= W_TEXEL; mode++)
            test_mlp_fwd(save, mode);
    for (int mode = W_STORAGE; mode <= W_TEXEL && want("mlp_bwd"); mode++)
        test_mlp_bwd(mode);
    for (int mode = W_STORAGE; mode <= W_TEXEL && want("linear_bwd_x"); mode++)
        for (int dg = 0; dg < 2; dg++)
            test_linear_bwd_x(CIN, COUT, dg, mode);
    if (want("linear_bwd_x"))
        test_linear_bwd_x(COUT, CIN, 1, W_TEXEL); /* narrowing, as the lifting's second layer */
    if (want("linear_bwd_w")) {
        test_linear_bwd_w(1, 0, 4, 4, 0, 64, 0, 0, 0);
        test_linear_bwd_w(1, 1, 4, 4, 0, 64, 0, 0, 0);
        test_linear_bwd_w(0, 0, 4, 4, 0, 64, 0, 0, 0);
        test_linear_bwd_w(1, 1, 8, 8, 0, 64, 0, 0, 0); /* tiles wider than the layer */
        test_linear_bwd_w(1, 0, 2, 3, 0, 64, 1, 0, 0); /* sides that do not divide it */
        test_linear_bwd_w(1, 1, COUT, CIN, 1, 8, 1, 0, 0); /* the CPU shape: one float tile */
        test_linear_bwd_w(0, 1, 2, 2, 1, 8, 0, 0, 0);
        test_linear_bwd_w(1, 0, 2, 2, 0, 1, 0, 0, 0); /* one phase */
        test_linear_bwd_w(1, 1, 4, 4, 0, 64, 0, 1, 0); /* inputs read as texels */
        test_linear_bwd_w(1, 1, COUT, CIN, 1, 8, 1, 1, 0);
        /* at the workgroup sizes of NVIDIA (32), AMD (64, 32) and Intel (8 to 32),
         * the phases filling that many lanes */
        static const int wgs[] = {8, 16, 32, 64};
        for (int i = 0; i < 4; i++) {
            test_linear_bwd_w(1, 1, 4, 4, 0, wgs[i], 0, 0, wgs[i]);
            test_linear_bwd_w(1, 1, COUT, CIN, 1, wgs[i], 1, 0, wgs[i]);
        }
    }
    for (int act = 0; act < 2 && want("block"); act++)
        for (int mode = W_STORAGE; mode <= W_TEXEL; mode++)
            test_block(act, mode, act && mode != W_STORAGE); /* the model's two: last block, others */
    if (want("ewise"))
        test_ewise();
    if (want("grid")) {
        test_grid(0);
        test_grid(1);
    }
    if (want("nerf_input"))
        test_nerf_input();
    if (want("spectral")) {
        test_spectral(0);
        test_spectral(1);
    }
    if (want("lp_loss")) {
        test_loss(2, 0);
        test_loss(4, 0);
        static const int wgs[] = {8, 16, 32, 64}; /* Intel, NVIDIA and AMD, AMD */
        for (int i = 0; i < 4; i++)
            test_loss(i % 2 ? 4 : 2, wgs[i]);
    }
    if (want("adamw")) {
        test_adamw(0);
        test_adamw(1);
    }
    return nbt_finish(ctx);
}
