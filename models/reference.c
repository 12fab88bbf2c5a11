/* reference.c - the operator, its gradients, the Lp loss and AdamW in plain
 * double precision on the CPU: the yardstick for the GPU kernels. Written
 * for clarity, not speed (the spectral layer is a direct truncated DFT). */
#include "nm_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M_PI 3.14159265358979323846
#define M_SQRT2 1.41421356237309504880

typedef struct block_act {
    double *x, *z, *y, *h, *a, *q; /* block input, pre-GELU, post, MLP hidden pre/post, pre-out */
    double *X;                     /* input spectrum, modes only: [B][C][M][2], scaled by 1/N */
} block_act;

struct nm_ref {
    nm_config c;
    uint32_t maxb, batch;
    nm_param *tab;
    uint32_t ntab;
    double *p;         /* flat parameters */
    double *cs, *sn;   /* cos/sin of 2 pi j / N */
    double *a0, *hl, *al, *hp, *ap;
    block_act *blk;
    double *out_last;  /* input of the projection */
};

static double *zalloc(uint64_t n) { return calloc(n ? n : 1, sizeof(double)); }

static const double *param(const nm_ref *r, const char *fmt, uint32_t j)
{
    char name[64];
    snprintf(name, sizeof name, fmt, j);
    for (uint32_t i = 0; i < r->ntab; i++)
        if (strcmp(r->tab[i].name, name) == 0)
            return r->p + r->tab[i].offset;
    return NULL; /* cannot happen for names the table produces */
}

static uint64_t poff(const nm_ref *r, const char *fmt, uint32_t j)
{
    return (uint64_t)(param(r, fmt, j) - r->p);
}

nb_status nm_ref_create(const nm_config *c, uint32_t batch, nm_ref **out)
{
    nb_status s = nm_config_check(c);
    if (s)
        return s;
    if (batch == 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_ref_create: batch 0");
    nm_ref *r = calloc(1, sizeof *r);
    if (!r)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    r->c = *c;
    r->maxb = batch;
    r->ntab = nm_param_table(c, NULL, 0);
    r->tab = calloc(r->ntab, sizeof *r->tab);
    nm_param_table(c, r->tab, r->ntab);
    r->p = zalloc(nm_param_count(c));
    const uint64_t N = c->length, B = batch, C = c->width;
    r->cs = zalloc(N);
    r->sn = zalloc(N);
    for (uint64_t j = 0; j < N; j++) {
        r->cs[j] = cos(2.0 * M_PI * (double)j / (double)N);
        r->sn[j] = sin(2.0 * M_PI * (double)j / (double)N);
    }
    r->a0 = zalloc(B * nm_config_lifting_in(c) * N);
    r->hl = zalloc(B * c->lifting_channels * N);
    r->al = zalloc(B * c->lifting_channels * N);
    r->hp = zalloc(B * c->projection_channels * N);
    r->ap = zalloc(B * c->projection_channels * N);
    r->out_last = zalloc(B * C * N);
    r->blk = calloc(c->blocks, sizeof *r->blk);
    int ok = r->tab && r->p && r->cs && r->sn && r->a0 && r->hl && r->al && r->hp && r->ap && r->out_last && r->blk;
    for (uint32_t j = 0; ok && j < c->blocks; j++) {
        block_act *b = &r->blk[j];
        b->x = zalloc(B * C * N);
        b->z = zalloc(B * C * N);
        b->y = zalloc(B * C * N);
        b->h = zalloc(B * c->mlp_channels * N);
        b->a = zalloc(B * c->mlp_channels * N);
        b->q = zalloc(B * C * N);
        b->X = zalloc(B * C * c->modes * 2);
        ok = b->x && b->z && b->y && b->h && b->a && b->q && b->X;
    }
    if (!ok) {
        nm_ref_destroy(r);
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory for the CPU reference");
    }
    *out = r;
    return NB_OK;
}

void nm_ref_destroy(nm_ref *r)
{
    if (!r)
        return;
    if (r->blk)
        for (uint32_t j = 0; j < r->c.blocks; j++) {
            block_act *b = &r->blk[j];
            free(b->x);
            free(b->z);
            free(b->y);
            free(b->h);
            free(b->a);
            free(b->q);
            free(b->X);
        }
    free(r->blk);
    free(r->tab);
    free(r->p);
    free(r->cs);
    free(r->sn);
    free(r->a0);
    free(r->hl);
    free(r->al);
    free(r->hp);
    free(r->ap);
    free(r->out_last);
    free(r);
}

void nm_ref_set_params(nm_ref *r, const double *params)
{
    memcpy(r->p, params, nm_param_count(&r->c) * sizeof(double));
}

static double gelu(double x) { return 0.5 * x * (1.0 + erf(x / M_SQRT2)); }
static double dgelu(double x) { return 0.5 * (1.0 + erf(x / M_SQRT2)) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI); }

/* y[b][o][n] = sum_i W[o][i] x[b][i][n] + bias[o] */
static void linear(const double *W, const double *bias, const double *x, uint32_t cin, uint32_t cout,
                   uint32_t B, uint32_t N, double *y)
{
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t o = 0; o < cout; o++) {
            double *yo = y + ((uint64_t)b * cout + o) * N;
            for (uint32_t n = 0; n < N; n++)
                yo[n] = bias ? bias[o] : 0.0;
            for (uint32_t i = 0; i < cin; i++) {
                const double w = W[(uint64_t)o * cin + i], *xi = x + ((uint64_t)b * cin + i) * N;
                for (uint32_t n = 0; n < N; n++)
                    yo[n] += w * xi[n];
            }
        }
}

/* Backward of linear: gW += g x^T, gb += sum g, gx (+)= W^T g. */
static void linear_back(const double *W, const double *x, const double *g, uint32_t cin, uint32_t cout,
                        uint32_t B, uint32_t N, double *gW, double *gb, double *gx, int accumulate_gx)
{
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t o = 0; o < cout; o++) {
            const double *go = g + ((uint64_t)b * cout + o) * N;
            if (gb)
                for (uint32_t n = 0; n < N; n++)
                    gb[o] += go[n];
            for (uint32_t i = 0; i < cin; i++) {
                const double *xi = x + ((uint64_t)b * cin + i) * N;
                double acc = 0;
                for (uint32_t n = 0; n < N; n++)
                    acc += go[n] * xi[n];
                gW[(uint64_t)o * cin + i] += acc;
            }
        }
    if (!gx)
        return;
    if (!accumulate_gx)
        memset(gx, 0, (uint64_t)B * cin * N * sizeof *gx);
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t i = 0; i < cin; i++) {
            double *gi = gx + ((uint64_t)b * cin + i) * N;
            for (uint32_t o = 0; o < cout; o++) {
                const double w = W[(uint64_t)o * cin + i], *go = g + ((uint64_t)b * cout + o) * N;
                for (uint32_t n = 0; n < N; n++)
                    gi[n] += w * go[n];
            }
        }
}

/* s = irfft(rfft(x)/N truncated, mixed by W) + bias; keeps X for the backward. */
static void spectral(nm_ref *r, const double *W, const double *bias, const double *x, uint32_t B, double *X,
                     double *s)
{
    const uint32_t C = r->c.width, M = r->c.modes, N = r->c.length;
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t i = 0; i < C; i++) {
            const double *xi = x + ((uint64_t)b * C + i) * N;
            for (uint32_t k = 0; k < M; k++) {
                double re = 0, im = 0;
                uint64_t idx = 0;
                for (uint32_t n = 0; n < N; n++) {
                    re += xi[n] * r->cs[idx];
                    im -= xi[n] * r->sn[idx];
                    idx += k;
                    if (idx >= N)
                        idx -= N;
                }
                double *Xk = X + (((uint64_t)b * C + i) * M + k) * 2;
                Xk[0] = re / N;
                Xk[1] = im / N;
            }
        }
    double *Y = zalloc((uint64_t)M * 2);
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t o = 0; o < C; o++) {
            for (uint32_t k = 0; k < M; k++) {
                double re = 0, im = 0;
                for (uint32_t i = 0; i < C; i++) {
                    const double *Xk = X + (((uint64_t)b * C + i) * M + k) * 2;
                    const double *w = W + (((uint64_t)i * C + o) * M + k) * 2;
                    re += Xk[0] * w[0] - Xk[1] * w[1];
                    im += Xk[0] * w[1] + Xk[1] * w[0];
                }
                Y[2 * k] = re;
                Y[2 * k + 1] = k == 0 ? 0.0 : im; /* irfft ignores Im of the DC bin */
            }
            double *so = s + ((uint64_t)b * C + o) * N;
            for (uint32_t n = 0; n < N; n++) {
                double v = Y[0];
                uint64_t idx = n;
                for (uint32_t k = 1; k < M; k++, idx += n) {
                    uint64_t t = idx % N;
                    v += 2.0 * (Y[2 * k] * r->cs[t] - Y[2 * k + 1] * r->sn[t]);
                }
                so[n] = v + bias[o];
            }
        }
    free(Y);
}

static void spectral_back(nm_ref *r, const double *W, const double *X, const double *gs, uint32_t B,
                          double *gW, double *gbias, double *gx)
{
    const uint32_t C = r->c.width, M = r->c.modes, N = r->c.length;
    double *gY = zalloc((uint64_t)B * C * M * 2);
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t o = 0; o < C; o++) {
            const double *g = gs + ((uint64_t)b * C + o) * N;
            for (uint32_t n = 0; n < N; n++)
                gbias[o] += g[n];
            for (uint32_t k = 0; k < M; k++) {
                double re = 0, im = 0;
                uint64_t idx = 0;
                for (uint32_t n = 0; n < N; n++) {
                    re += g[n] * r->cs[idx];
                    im -= g[n] * r->sn[idx];
                    idx += k;
                    if (idx >= N)
                        idx -= N;
                }
                double *gy = gY + (((uint64_t)b * C + o) * M + k) * 2;
                gy[0] = k == 0 ? re : 2.0 * re;
                gy[1] = k == 0 ? 0.0 : 2.0 * im;
            }
        }
    /* gW = sum_b conj(X) gY; gX = sum_o gY conj(W) */
    for (uint32_t i = 0; i < C; i++)
        for (uint32_t o = 0; o < C; o++)
            for (uint32_t k = 0; k < M; k++) {
                double re = 0, im = 0;
                for (uint32_t b = 0; b < B; b++) {
                    const double *Xk = X + (((uint64_t)b * C + i) * M + k) * 2;
                    const double *gy = gY + (((uint64_t)b * C + o) * M + k) * 2;
                    re += Xk[0] * gy[0] + Xk[1] * gy[1];
                    im += Xk[0] * gy[1] - Xk[1] * gy[0];
                }
                double *w = gW + (((uint64_t)i * C + o) * M + k) * 2;
                w[0] += re;
                w[1] += im;
            }
    double *gX = zalloc((uint64_t)M * 2);
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t i = 0; i < C; i++) {
            for (uint32_t k = 0; k < M; k++) {
                double re = 0, im = 0;
                for (uint32_t o = 0; o < C; o++) {
                    const double *gy = gY + (((uint64_t)b * C + o) * M + k) * 2;
                    const double *w = W + (((uint64_t)i * C + o) * M + k) * 2;
                    re += gy[0] * w[0] + gy[1] * w[1];
                    im += gy[1] * w[0] - gy[0] * w[1];
                }
                gX[2 * k] = re;
                gX[2 * k + 1] = im;
            }
            /* X_k = (1/N) sum_n x_n e^{-i theta}: dx_n = (1/N) sum_k Re(gX_k e^{i theta}) */
            double *gi = gx + ((uint64_t)b * C + i) * N;
            for (uint32_t n = 0; n < N; n++) {
                double v = 0;
                uint64_t idx = 0;
                for (uint32_t k = 0; k < M; k++, idx += n) {
                    uint64_t t = idx % N;
                    v += gX[2 * k] * r->cs[t] - gX[2 * k + 1] * r->sn[t];
                }
                gi[n] += v / N;
            }
        }
    free(gX);
    free(gY);
}

static int block_act_on(const nm_config *c, uint32_t j) { return j + 1 < c->blocks || c->last_block_activation; }

void nm_ref_forward(nm_ref *r, const double *x, uint32_t B, double *y)
{
    const nm_config *c = &r->c;
    const uint32_t N = c->length, I = nm_config_lifting_in(c), C = c->width, L = c->lifting_channels,
                   E = c->mlp_channels, H = c->projection_channels;
    if (B > r->maxb)
        B = r->maxb;
    r->batch = B;
    for (uint32_t b = 0; b < B; b++) {
        memcpy(r->a0 + (uint64_t)b * I * N, x + (uint64_t)b * c->in_channels * N,
               (uint64_t)c->in_channels * N * sizeof(double));
        if (c->grid)
            for (uint32_t n = 0; n < N; n++)
                r->a0[((uint64_t)b * I + c->in_channels) * N + n] = (double)n / (double)N;
    }
    const uint64_t BLN = (uint64_t)B * L * N, BCN = (uint64_t)B * C * N, BEN = (uint64_t)B * E * N;
    linear(param(r, "lifting.fcs.0.weight", 0), param(r, "lifting.fcs.0.bias", 0), r->a0, I, L, B, N, r->hl);
    for (uint64_t t = 0; t < BLN; t++)
        r->al[t] = gelu(r->hl[t]);
    double *v = r->blk[0].x;
    linear(param(r, "lifting.fcs.1.weight", 0), param(r, "lifting.fcs.1.bias", 0), r->al, L, C, B, N, v);
    for (uint32_t j = 0; j < c->blocks; j++) {
        block_act *a = &r->blk[j];
        int act = block_act_on(c, j);
        double *out = j + 1 < c->blocks ? r->blk[j + 1].x : r->out_last;
        double *skip = zalloc(BCN);
        spectral(r, param(r, "fno_blocks.convs.%u.weight.tensor", j), param(r, "fno_blocks.convs.%u.bias", j), a->x, B,
                 a->X, a->z);
        linear(param(r, "fno_blocks.fno_skips.%u.conv.weight", j), NULL, a->x, C, C, B, N, skip);
        for (uint64_t t = 0; t < BCN; t++) {
            a->z[t] += skip[t];
            a->y[t] = act ? gelu(a->z[t]) : a->z[t];
        }
        free(skip);
        linear(param(r, "fno_blocks.channel_mlp.%u.fcs.0.weight", j), param(r, "fno_blocks.channel_mlp.%u.fcs.0.bias", j),
               a->y, C, E, B, N, a->h);
        for (uint64_t t = 0; t < BEN; t++)
            a->a[t] = gelu(a->h[t]);
        linear(param(r, "fno_blocks.channel_mlp.%u.fcs.1.weight", j), param(r, "fno_blocks.channel_mlp.%u.fcs.1.bias", j),
               a->a, E, C, B, N, a->q);
        const double *gate = param(r, "fno_blocks.channel_mlp_skips.%u.weight", j);
        for (uint32_t b = 0; b < B; b++)
            for (uint32_t ch = 0; ch < C; ch++)
                for (uint32_t n = 0; n < N; n++) {
                    uint64_t t = ((uint64_t)b * C + ch) * N + n;
                    a->q[t] += gate[ch] * a->x[t];
                    out[t] = act ? gelu(a->q[t]) : a->q[t];
                }
    }
    linear(param(r, "projection.fcs.0.weight", 0), param(r, "projection.fcs.0.bias", 0), r->out_last, C, H, B, N,
           r->hp);
    for (uint64_t t = 0; t < (uint64_t)B * H * N; t++)
        r->ap[t] = gelu(r->hp[t]);
    linear(param(r, "projection.fcs.1.weight", 0), param(r, "projection.fcs.1.bias", 0), r->ap, H, c->out_channels,
           B, N, y);
}

void nm_ref_backward(nm_ref *r, const double *gy, double *grad, double *gx)
{
    const nm_config *c = &r->c;
    const uint32_t B = r->batch, N = c->length, I = nm_config_lifting_in(c), C = c->width, L = c->lifting_channels,
                   E = c->mlp_channels, H = c->projection_channels, O = c->out_channels;
    const uint64_t BCN = (uint64_t)B * C * N;
    double *gap = zalloc((uint64_t)B * H * N), *gv = zalloc(BCN);
    linear_back(param(r, "projection.fcs.1.weight", 0), r->ap, gy, H, O, B, N, grad + poff(r, "projection.fcs.1.weight", 0),
                grad + poff(r, "projection.fcs.1.bias", 0), gap, 0);
    for (uint64_t t = 0; t < (uint64_t)B * H * N; t++)
        gap[t] *= dgelu(r->hp[t]);
    linear_back(param(r, "projection.fcs.0.weight", 0), r->out_last, gap, C, H, B, N,
                grad + poff(r, "projection.fcs.0.weight", 0), grad + poff(r, "projection.fcs.0.bias", 0), gv, 0);
    free(gap);
    double *gq = zalloc(BCN), *ga = zalloc((uint64_t)B * E * N), *gyb = zalloc(BCN), *gxj = zalloc(BCN);
    for (uint32_t jj = c->blocks; jj-- > 0;) {
        block_act *a = &r->blk[jj];
        int act = block_act_on(c, jj);
        /* gv holds dL/d(block output) */
        for (uint64_t t = 0; t < BCN; t++)
            gq[t] = act ? gv[t] * dgelu(a->q[t]) : gv[t];
        const double *gate = param(r, "fno_blocks.channel_mlp_skips.%u.weight", jj);
        double *ggate = grad + poff(r, "fno_blocks.channel_mlp_skips.%u.weight", jj);
        for (uint32_t b = 0; b < B; b++)
            for (uint32_t ch = 0; ch < C; ch++)
                for (uint32_t n = 0; n < N; n++) {
                    uint64_t t = ((uint64_t)b * C + ch) * N + n;
                    ggate[ch] += gq[t] * a->x[t];
                    gxj[t] = gate[ch] * gq[t];
                }
        linear_back(param(r, "fno_blocks.channel_mlp.%u.fcs.1.weight", jj), a->a, gq, E, C, B, N,
                    grad + poff(r, "fno_blocks.channel_mlp.%u.fcs.1.weight", jj),
                    grad + poff(r, "fno_blocks.channel_mlp.%u.fcs.1.bias", jj), ga, 0);
        for (uint64_t t = 0; t < (uint64_t)B * E * N; t++)
            ga[t] *= dgelu(a->h[t]);
        linear_back(param(r, "fno_blocks.channel_mlp.%u.fcs.0.weight", jj), a->y, ga, C, E, B, N,
                    grad + poff(r, "fno_blocks.channel_mlp.%u.fcs.0.weight", jj),
                    grad + poff(r, "fno_blocks.channel_mlp.%u.fcs.0.bias", jj), gyb, 0);
        for (uint64_t t = 0; t < BCN; t++) /* gyb becomes dL/dz */
            gyb[t] = act ? gyb[t] * dgelu(a->z[t]) : gyb[t];
        linear_back(param(r, "fno_blocks.fno_skips.%u.conv.weight", jj), a->x, gyb, C, C, B, N,
                    grad + poff(r, "fno_blocks.fno_skips.%u.conv.weight", jj), NULL, gxj, 1);
        spectral_back(r, param(r, "fno_blocks.convs.%u.weight.tensor", jj), a->X, gyb, B,
                      grad + poff(r, "fno_blocks.convs.%u.weight.tensor", jj), grad + poff(r, "fno_blocks.convs.%u.bias", jj),
                      gxj);
        memcpy(gv, gxj, BCN * sizeof *gv);
    }
    free(gq);
    free(ga);
    free(gyb);
    free(gxj);
    double *gal = zalloc((uint64_t)B * L * N);
    linear_back(param(r, "lifting.fcs.1.weight", 0), r->al, gv, L, C, B, N, grad + poff(r, "lifting.fcs.1.weight", 0),
                grad + poff(r, "lifting.fcs.1.bias", 0), gal, 0);
    for (uint64_t t = 0; t < (uint64_t)B * L * N; t++)
        gal[t] *= dgelu(r->hl[t]);
    double *ga0 = gx ? zalloc((uint64_t)B * I * N) : NULL;
    linear_back(param(r, "lifting.fcs.0.weight", 0), r->a0, gal, I, L, B, N, grad + poff(r, "lifting.fcs.0.weight", 0),
                grad + poff(r, "lifting.fcs.0.bias", 0), ga0, 0);
    if (gx) /* the grid channel is not an input: its gradient is dropped */
        for (uint32_t b = 0; b < B; b++)
            memcpy(gx + (uint64_t)b * c->in_channels * N, ga0 + (uint64_t)b * I * N,
                   (uint64_t)c->in_channels * N * sizeof *gx);
    free(ga0);
    free(gal);
    free(gv);
}

double nm_ref_lp_loss(const double *yhat, const double *y, uint32_t batch, uint64_t per, int p, double *grad)
{
    double total = 0;
    for (uint32_t b = 0; b < batch; b++) {
        const double *a = yhat + b * per, *t = y + b * per;
        double num = 0, den = 0;
        for (uint64_t i = 0; i < per; i++) {
            double d = fabs(a[i] - t[i]);
            num += p == 4 ? d * d * d * d : d * d;
            den += p == 4 ? t[i] * t[i] * t[i] * t[i] : t[i] * t[i];
        }
        double ratio = num / den, l = p == 4 ? sqrt(sqrt(ratio)) : sqrt(ratio);
        total += l;
        if (grad) {
            /* d/d a_i (num/den)^(1/p) = (num/den)^(1/p - 1) |d|^(p-2) d / den */
            double f = num > 0 ? l / ratio / den : 0.0;
            for (uint64_t i = 0; i < per; i++) {
                double d = a[i] - t[i];
                grad[b * per + i] = f * (p == 4 ? d * d * d : d);
            }
        }
    }
    return total;
}

void nm_adamw_default(nm_adamw *a) { *a = (nm_adamw){.lr = 4e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-6, .weight_decay = 0}; }

void nm_ref_adamw(const nm_adamw *a, uint64_t step, uint64_t n, double *p, const double *g, double *m, double *v)
{
    const double bc1 = 1.0 - pow(a->beta1, (double)step), bc2 = 1.0 - pow(a->beta2, (double)step);
    for (uint64_t i = 0; i < n; i++) {
        p[i] *= 1.0 - a->lr * a->weight_decay;
        m[i] = a->beta1 * m[i] + (1.0 - a->beta1) * g[i];
        v[i] = a->beta2 * v[i] + (1.0 - a->beta2) * g[i] * g[i];
        p[i] -= a->lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + a->eps);
    }
}
