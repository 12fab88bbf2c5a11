/* cpu_fft.c - the CPU backend's band-limited transforms: an R2C that computes
 * only the first `bins` complex bins, and a C2R whose input is zero past them.
 * The spectral layers keep 129 of the 4291 bins at the published length, and
 * FFTW spends most of its time on the rest; here the work is an FFT of length
 * Q = n / P on vectors whose P lanes are the P interleaved sub-sequences of a
 * row, so every operation is vertical SIMD with no transposes:
 *
 *   n = P m + r (r < P lanes, m < Q):
 *   X[k] = sum_r w_n^{k r} Z_r[k mod Q],  Z_r = DFT_Q of x[P m + r] over m.
 *
 * Two real rows ride as the real and imaginary parts of one complex signal
 * (x_A + i x_B), and are separated through the Hermitian symmetry of their
 * spectra. The FFT of length Q is a Stockham autosort pass per radix (2, 4,
 * and the odd primes up to 13, those with the symmetric pair formula), with
 * twiddles in double rounded to float. The inverse builds the Q bins of each
 * lane from the kept bins and their conjugate mirrors, transforms back and
 * stores the lanes in place. Each row pair is independent of the others, so
 * results do not depend on the thread count. fft.c uses this where
 * nb__pfft_create accepts the length; FFTW elsewhere. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

#include "nb_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VW 16
#define MAXSTAGES 24
#define MAXRADIX 13

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));
typedef struct cv {
    vf re, im;
} cv;

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOT
#endif
#define INL static inline __attribute__((always_inline))
#define VS(s) ((vf){0} + (float)(s))

typedef struct stage {
    uint32_t R, m, s;  /* radix; the length left after it is m; stride s */
    const float *tw;   /* m complex twiddles w^{p u}, p < m, 1 <= u < R */
    float c[MAXRADIX]; /* cos(2 pi j / R) */
    float sn[MAXRADIX];/* sin(2 pi j / R) */
} stage;

struct nb_pfft {
    uint64_t n, bins;
    uint32_t P, Q, inverse, nst;
    stage st[MAXSTAGES];
    float *tw;      /* every stage's twiddles */
    cv *T;          /* bins vectors: w_n^{k r} on lane r (zero on lanes >= P) */
    vi lanes;       /* -1 on the P lanes in use */
    uint32_t threads;
    cv **scratch;   /* per thread: 2 Q vectors */
};

/* ------------------------------------------------------------ planning */

static int factor(uint32_t q, uint32_t *f, uint32_t *nf)
{
    *nf = 0;
    while (q % 4 == 0 && *nf < MAXSTAGES) {
        f[(*nf)++] = 4;
        q /= 4;
    }
    while (q % 2 == 0 && *nf < MAXSTAGES) {
        f[(*nf)++] = 2;
        q /= 2;
    }
    for (uint32_t p = 3; p <= MAXRADIX && q > 1; p += 2)
        while (q % p == 0 && *nf < MAXSTAGES) {
            f[(*nf)++] = p;
            q /= p;
        }
    return q == 1;
}

/* vector operations per point of a pass of radix R (the odd ones by the pair formula), for choosing P */
static double pass_cost(uint32_t R)
{
    if (R == 2)
        return 2 + 6;
    if (R == 4)
        return 4 + 6;
    double h = (R - 1) / 2.0;
    return (4.0 * h * h + 4.0 * h + 2.0) / R + 6;
}

void nb__pfft_destroy(nb_pfft *f)
{
    if (!f)
        return;
    if (f->scratch)
        for (uint32_t t = 0; t < f->threads; t++)
            free(f->scratch[t]);
    free(f->scratch);
    free(f->tw);
    free(f->T);
    free(f);
}

nb_pfft *nb__pfft_create(uint64_t n, uint64_t bins, int inverse, uint32_t threads)
{
    if (n < 32 || n > (1u << 24) || bins < 1 || bins > n / 2 || threads < 1)
        return NULL;
    /* the lane count with the least work per row: all Q points through every pass */
    uint32_t bestP = 0, f[MAXSTAGES], nf = 0;
    double best = 0;
    for (uint32_t P = 2; P <= VW; P++) {
        uint32_t ff[MAXSTAGES], nff;
        if (n % P || !factor((uint32_t)(n / P), ff, &nff) || nff == 0)
            continue;
        double cost = 0;
        for (uint32_t i = 0; i < nff; i++)
            cost += pass_cost(ff[i]);
        cost *= (double)(n / P);
        if (!bestP || cost < best) {
            best = cost;
            bestP = P;
            memcpy(f, ff, sizeof ff);
            nf = nff;
        }
    }
    if (!bestP)
        return NULL;
    /* aligned for the lane mask */
    nb_pfft *p = aligned_alloc(64, (sizeof *p + 63) / 64 * 64);
    if (!p)
        return NULL;
    memset(p, 0, sizeof *p);
    p->n = n;
    p->bins = bins;
    p->P = bestP;
    p->Q = (uint32_t)(n / bestP);
    p->inverse = inverse != 0;
    p->nst = nf;
    p->threads = threads;
    const double sg = inverse ? 1.0 : -1.0, pi2 = 6.283185307179586476925286766559;
    uint64_t ntw = 0;
    {
        uint32_t len = p->Q;
        for (uint32_t i = 0; i < nf; i++) {
            ntw += (uint64_t)(len / f[i]) * (f[i] - 1) * 2;
            len /= f[i];
        }
    }
    p->tw = malloc((ntw ? ntw : 1) * sizeof *p->tw);
    p->T = aligned_alloc(64, bins * sizeof *p->T);
    p->scratch = calloc(threads, sizeof *p->scratch);
    if (!p->tw || !p->T || !p->scratch) {
        nb__pfft_destroy(p);
        return NULL;
    }
    for (uint32_t t = 0; t < threads; t++)
        if (!(p->scratch[t] = aligned_alloc(64, 2 * (size_t)p->Q * sizeof(cv)))) {
            nb__pfft_destroy(p);
            return NULL;
        }
    uint32_t len = p->Q, s = 1;
    float *tw = p->tw;
    for (uint32_t i = 0; i < nf; i++) {
        stage *g = &p->st[i];
        g->R = f[i];
        g->m = len / f[i];
        g->s = s;
        g->tw = tw;
        for (uint32_t j = 0; j < g->R; j++) {
            g->c[j] = (float)cos(pi2 * j / g->R);
            g->sn[j] = (float)sin(pi2 * j / g->R);
        }
        for (uint32_t q = 0; q < g->m; q++)
            for (uint32_t u = 1; u < g->R; u++) {
                double a = sg * pi2 * (double)((uint64_t)q * u % len) / len;
                *tw++ = (float)cos(a);
                *tw++ = (float)sin(a);
            }
        s *= g->R;
        len = g->m;
    }
    for (uint32_t r = 0; r < VW; r++)
        p->lanes[r] = r < p->P ? -1 : 0;
    for (uint64_t k = 0; k < bins; k++)
        for (uint32_t r = 0; r < VW; r++) {
            double a = -pi2 * (double)(k * r % n) / (double)n;
            p->T[k].re[r] = r < p->P ? (float)cos(a) : 0.0f;
            p->T[k].im[r] = r < p->P ? (float)sin(a) : 0.0f;
        }
    return p;
}

/* ---------------------------------------------------------- butterflies */

INL void cmul_s(cv *a, float wr, float wi)
{
    vf r = a->re * wr - a->im * wi;
    a->im = a->re * wi + a->im * wr;
    a->re = r;
}

/* b = DFT_R(a) with w = e^{sg 2 pi i / R}; the odd radices by pairs j, R-j */
INL void dft_small(cv *restrict a, cv *restrict b, const stage *g, const float sg, const uint32_t R)
{
    if (R == 2) {
        b[0].re = a[0].re + a[1].re;
        b[0].im = a[0].im + a[1].im;
        b[1].re = a[0].re - a[1].re;
        b[1].im = a[0].im - a[1].im;
        return;
    }
    if (R == 4) {
        cv t0 = {a[0].re + a[2].re, a[0].im + a[2].im}, t1 = {a[0].re - a[2].re, a[0].im - a[2].im};
        cv t2 = {a[1].re + a[3].re, a[1].im + a[3].im}, d = {a[1].re - a[3].re, a[1].im - a[3].im};
        /* w d with w = sg i: (-sg d.im, sg d.re) */
        vf wr = -sg * d.im, wi = sg * d.re;
        b[0].re = t0.re + t2.re;
        b[0].im = t0.im + t2.im;
        b[2].re = t0.re - t2.re;
        b[2].im = t0.im - t2.im;
        b[1].re = t1.re + wr;
        b[1].im = t1.im + wi;
        b[3].re = t1.re - wr;
        b[3].im = t1.im - wi;
        return;
    }
    const uint32_t h = (R - 1) / 2;
    cv S[MAXRADIX / 2 + 1] = {{VS(0), VS(0)}}, D[MAXRADIX / 2 + 1] = {{VS(0), VS(0)}};
    b[0] = a[0];
#pragma GCC unroll 8
    for (uint32_t j = 1; j <= h; j++) {
        S[j].re = a[j].re + a[R - j].re;
        S[j].im = a[j].im + a[R - j].im;
        D[j].re = a[j].re - a[R - j].re;
        D[j].im = a[j].im - a[R - j].im;
        b[0].re += S[j].re;
        b[0].im += S[j].im;
    }
#pragma GCC unroll 8
    for (uint32_t u = 1; u <= h; u++) {
        cv A = a[0], B = {VS(0), VS(0)};
#pragma GCC unroll 8
        for (uint32_t j = 1; j <= h; j++) {
            const uint32_t t = j * u % R;
            A.re += S[j].re * g->c[t];
            A.im += S[j].im * g->c[t];
            B.re += D[j].re * g->sn[t];
            B.im += D[j].im * g->sn[t];
        }
        /* sg i B = (-sg B.im, sg B.re) */
        vf br = -sg * B.im, bi = sg * B.re;
        b[u].re = A.re + br;
        b[u].im = A.im + bi;
        b[R - u].re = A.re - br;
        b[R - u].im = A.im - bi;
    }
}

/* One Stockham pass: y[q + s (R p + u)] = DFT_R(x[q + s (p + j m)])_u w^{p u} */
INL void pass(const stage *g, const cv *restrict x, cv *restrict y, const float sg, const uint32_t R)
{
    const uint32_t m = g->m, s = g->s;
    cv a[MAXRADIX], b[MAXRADIX];
    for (uint32_t p = 0; p < m; p++) {
        const float *w = g->tw + (size_t)p * (R - 1) * 2;
        for (uint32_t q = 0; q < s; q++) {
#pragma GCC unroll 16
            for (uint32_t j = 0; j < R; j++)
                a[j] = x[q + s * (p + j * m)];
            dft_small(a, b, g, sg, R);
            cv *o = y + q + (size_t)s * R * p;
            o[0] = b[0];
#pragma GCC unroll 16
            for (uint32_t u = 1; u < R; u++) {
                if (p)
                    cmul_s(&b[u], w[2 * (u - 1)], w[2 * (u - 1) + 1]);
                o[(size_t)s * u] = b[u];
            }
        }
    }
}

/* Runs the passes over x (y is the other buffer); returns where the result is. */
HOT static cv *fft_q(const nb_pfft *f, cv *x, cv *y)
{
    const float sg = f->inverse ? 1.0f : -1.0f;
    for (uint32_t i = 0; i < f->nst; i++) {
        const stage *g = &f->st[i];
        switch (g->R) {
        case 2: pass(g, x, y, sg, 2); break;
        case 4: pass(g, x, y, sg, 4); break;
        case 3: pass(g, x, y, sg, 3); break;
        case 5: pass(g, x, y, sg, 5); break;
        case 7: pass(g, x, y, sg, 7); break;
        case 11: pass(g, x, y, sg, 11); break;
        case 13: pass(g, x, y, sg, 13); break;
        default: pass(g, x, y, sg, g->R); break;
        }
        cv *t = x;
        x = y;
        y = t;
    }
    return x;
}

INL float hsum_p(const vf *v)
{
    float s = 0;
    for (uint32_t i = 0; i < VW; i++)
        s += (*v)[i];
    return s;
}
#define hsum(e) ({ const vf hv_ = (e); hsum_p(&hv_); })

/* ------------------------------------------------------------- the runs */

typedef struct pjob {
    const nb_pfft *f;
    const char *in;
    char *out;
    uint64_t rows, in_row, out_row; /* bytes per row */
} pjob;

/* Loads P floats at p onto the lanes in use (zeros elsewhere) */
INL void lload(vf *out, const float *p, uint32_t P, const vi *lanes, int whole)
{
    vf v;
    if (whole)
        memcpy(&v, p, sizeof v);
    else {
        v = VS(0);
        memcpy(&v, p, P * sizeof(float));
    }
    *out = (vf)((vi)v & *lanes);
}

HOT static void r2c_task(void *user, uint64_t i, uint32_t thread)
{
    const pjob *J = user;
    const nb_pfft *f = J->f;
    const uint32_t P = f->P, Q = f->Q;
    const uint64_t ra = 2 * i, rb = 2 * i + 1;
    const int hasb = rb < J->rows;
    const float *xa = (const float *)(J->in + ra * J->in_row);
    const float *xb = hasb ? (const float *)(J->in + rb * J->in_row) : NULL;
    cv *x = f->scratch[thread], *y = x + Q;
    for (uint32_t m = 0; m < Q; m++) {
        const int whole = m + 1 < Q || P == VW;
        lload(&x[m].re, xa + (size_t)P * m, P, &f->lanes, whole);
        if (xb)
            lload(&x[m].im, xb + (size_t)P * m, P, &f->lanes, whole);
        else
            x[m].im = VS(0);
    }
    const cv *Z = fft_q(f, x, y);
    float *oa = (float *)(J->out + ra * J->out_row), *ob = hasb ? (float *)(J->out + rb * J->out_row) : NULL;
    for (uint64_t k = 0; k < f->bins; k++) {
        const cv *z1 = &Z[k % Q], *z2 = &Z[(Q - k % Q) % Q], *t = &f->T[k];
        /* F = sum_r T z1; G = conj(sum_r conj(T) z2) */
        const float Fr = hsum(t->re * z1->re - t->im * z1->im), Fi = hsum(t->re * z1->im + t->im * z1->re);
        const float Gr = hsum(t->re * z2->re + t->im * z2->im), Gi = -hsum(t->re * z2->im - t->im * z2->re);
        oa[2 * k] = 0.5f * (Fr + Gr);
        oa[2 * k + 1] = 0.5f * (Fi + Gi);
        if (ob) {
            ob[2 * k] = 0.5f * (Fi - Gi);
            ob[2 * k + 1] = -0.5f * (Fr - Gr);
        }
    }
}

HOT static void c2r_task(void *user, uint64_t i, uint32_t thread)
{
    const pjob *J = user;
    const nb_pfft *f = J->f;
    const uint32_t P = f->P, Q = f->Q;
    const uint64_t ra = 2 * i, rb = 2 * i + 1, M = f->bins;
    const int hasb = rb < J->rows;
    const float *Xa = (const float *)(J->in + ra * J->in_row);
    const float *Xb = hasb ? (const float *)(J->in + rb * J->in_row) : NULL;
    cv *x = f->scratch[thread], *y = x + Q;
    for (uint32_t q = 0; q < Q; q++)
        x[q].re = x[q].im = VS(0);
    /* V[k mod Q] += U[k] conj(T[k]) for k < M; V[(Q - j) mod Q] += U'[j] T[j] for 0 < j < M,
     * U = X_A + i X_B, U' = conj(X_A) + i conj(X_B); bin 0 real (as FFTW's C2R) */
    for (uint64_t k = 0; k < M; k++) {
        const float ar = Xa[2 * k], ai = k ? Xa[2 * k + 1] : 0.0f;
        const float br = Xb ? Xb[2 * k] : 0.0f, bi = Xb && k ? Xb[2 * k + 1] : 0.0f;
        const cv *t = &f->T[k];
        const float ur = ar - bi, ui = ai + br;
        cv *v = &x[k % Q];
        v->re += ur * t->re + ui * t->im;
        v->im += ui * t->re - ur * t->im;
        if (k) {
            const float wr = ar + bi, wi = br - ai;
            cv *w = &x[(Q - k % Q) % Q];
            w->re += wr * t->re - wi * t->im;
            w->im += wr * t->im + wi * t->re;
        }
    }
    const cv *u = fft_q(f, x, y);
    float *ya = (float *)(J->out + ra * J->out_row), *yb = hasb ? (float *)(J->out + rb * J->out_row) : NULL;
    for (uint32_t m = 0; m < Q; m++) {
        if (m + 1 < Q || P == VW) {
            /* lanes past P spill into the next group, which is stored after */
            memcpy(ya + (size_t)P * m, &u[m].re, sizeof(vf));
            if (yb)
                memcpy(yb + (size_t)P * m, &u[m].im, sizeof(vf));
        } else {
            memcpy(ya + (size_t)P * m, &u[m].re, P * sizeof(float));
            if (yb)
                memcpy(yb + (size_t)P * m, &u[m].im, P * sizeof(float));
        }
    }
}

void nb__pfft_run(const nb_pfft *f, uint32_t workers, uint64_t rows, uint64_t row_bins, const void *in, void *out)
{
    const uint64_t rb = f->n * 4, cb = row_bins * 8;
    pjob J = {f, in, out, rows, f->inverse ? cb : rb, f->inverse ? rb : cb};
    if (workers > f->threads)
        workers = f->threads;
    nb__pool_run(workers, (rows + 1) / 2, f->inverse ? c2r_task : r2c_task, &J);
}

uint32_t nb__pfft_lanes(const nb_pfft *f) { return f->P; }
