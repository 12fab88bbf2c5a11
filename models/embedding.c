/* embedding.c - NOBLE's input channels (docs/operator.md, "Embedding"): the
 * scaled injected current and the frequency-scaled NeRF channels of the
 * amplitude and the neuron features. The GPU computes them in the model
 * (shaders/embed.comp); this file holds the description, the scaler and the
 * double-precision reference the kernel is checked against. */
#include "nm_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nm_embedding_default(nm_embedding *e)
{
    memset(e, 0, sizeof *e);
    e->amp_freqs = 9;
    e->feat_freqs = 1;
    e->n_codes = 3;
    snprintf(e->names[0], sizeof e->names[0], "amplitude");
    snprintf(e->names[1], sizeof e->names[1], "I_thr");
    snprintf(e->names[2], sizeof e->names[2], "s_thr");
    snprintf(e->units[0], sizeof e->units[0], "pA");
    snprintf(e->units[1], sizeof e->units[1], "pA");
    snprintf(e->units[2], sizeof e->units[2], "Hz/pA");
    e->lo = 0.5;
    e->hi = 3.5;
    e->current_scale = 100.0;
    e->voltage_scale = 100.0;
}

uint32_t nm_embedding_channels(const nm_embedding *e)
{
    if (!e->n_codes)
        return 1;
    return 1 + 2 * e->amp_freqs + 2 * (e->n_codes - 1) * e->feat_freqs;
}

nb_status nm_embedding_check(const nm_embedding *e)
{
    if (!e)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "embedding: NULL");
    if (e->n_codes < 1 || e->n_codes > NM_MAX_CODES)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "embedding: %u codes (1 to %d: the amplitude, then features)",
                        e->n_codes, NM_MAX_CODES);
    if (e->amp_freqs > 16 || e->feat_freqs > 16)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "embedding: %u and %u frequencies (at most 16 each)", e->amp_freqs,
                        e->feat_freqs);
    if (!(isfinite(e->lo) && isfinite(e->hi) && e->hi > e->lo))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "embedding: scaled range [%g, %g] is empty", e->lo, e->hi);
    for (uint32_t i = 0; i < e->n_codes; i++)
        if (!(isfinite(e->min[i]) && isfinite(e->max[i]) && e->max[i] >= e->min[i]))
            return nb_error(NB_ERR_INVALID_ARGUMENT, "embedding: the scaler of '%s' is not fitted (min %g, max %g)",
                            e->names[i], e->min[i], e->max[i]);
    if (!(e->current_scale > 0 && isfinite(e->current_scale) && e->voltage_scale > 0 && isfinite(e->voltage_scale)))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "embedding: current_scale %g pA and voltage_scale %g mV must be > 0",
                        e->current_scale, e->voltage_scale);
    return NB_OK;
}

double nm_embedding_scale(const nm_embedding *e, uint32_t code, double v)
{
    const double span = e->max[code] - e->min[code];
    if (span <= 0) /* every training model had the same value: the middle */
        return 0.5 * (e->lo + e->hi);
    return e->lo + (e->hi - e->lo) * (v - e->min[code]) / span;
}

void nm_embed_ref(const nm_embedding *e, const double *current, const double *codes, uint32_t batch, uint32_t n,
                  double *x)
{
    const uint32_t C = nm_embedding_channels(e);
    const double pi = 3.14159265358979323846;
    for (uint32_t b = 0; b < batch; b++) {
        double *xb = x + (uint64_t)b * C * n;
        for (uint32_t i = 0; i < n; i++)
            xb[i] = current[(uint64_t)b * n + i] / e->current_scale;
        uint32_t ch = 1;
        for (uint32_t c = 0; c < e->n_codes; c++) {
            const double v = nm_embedding_scale(e, c, codes[(uint64_t)b * e->n_codes + c]);
            const uint32_t K = c == 0 ? e->amp_freqs : e->feat_freqs;
            for (uint32_t k = 0; k < K; k++, ch += 2)
                for (uint32_t i = 0; i < n; i++) {
                    const double t = n > 1 ? 2.0 * pi * i / (n - 1) : 0.0; /* linspace(0, 2 pi, n) */
                    const double a = ldexp(1.0, (int)k) * pi * v * t;
                    xb[(uint64_t)ch * n + i] = sin(a);
                    xb[(uint64_t)(ch + 1) * n + i] = cos(a);
                }
        }
    }
}

/* w split so that each of the first two parts times any sample index below
 * n is exact in fp32 (24 bits): parts of 24 - bits(n) significant bits. */
static void split3(double w, uint32_t n, float out[4])
{
    int nbits = 1;
    while (nbits < 24 && (1u << nbits) < n)
        nbits++;
    const int keep = 24 - nbits > 1 ? 24 - nbits : 1;
    double r = w;
    for (int i = 0; i < 2; i++) {
        int ex;
        double m = frexp(r, &ex);
        double q = ldexp(trunc(ldexp(m, keep)), ex - keep);
        out[i] = (float)q;
        r -= q;
    }
    out[2] = (float)r;
    out[3] = 0.0f;
}

uint32_t nm_embed_frequencies(const nm_embedding *e)
{
    return e->n_codes ? e->amp_freqs + (e->n_codes - 1) * e->feat_freqs : 0;
}

void nm_embed_cycles(const nm_embedding *e, const float *codes, uint32_t batch, uint32_t n, float *w)
{
    const double pi = 3.14159265358979323846;
    const uint32_t nw = nm_embed_frequencies(e);
    for (uint32_t b = 0; b < batch; b++) {
        uint32_t f = 0;
        for (uint32_t c = 0; c < e->n_codes; c++) {
            const double v = nm_embedding_scale(e, c, codes[(uint64_t)b * e->n_codes + c]);
            const uint32_t K = c == 0 ? e->amp_freqs : e->feat_freqs;
            for (uint32_t k = 0; k < K; k++, f++) /* 2^k pi v t, t = 2 pi i / (n - 1): cycles per sample */
                split3(n > 1 ? ldexp(1.0, (int)k) * pi * v / (double)(n - 1) : 0.0, n,
                       w + ((uint64_t)b * nw + f) * 4);
        }
    }
}

/* ------------------------------------------------------------- sag term */

double nm_soft_sag(const float *v, uint32_t s0, uint32_t s1, double tau, float *grad)
{
    if (s1 <= s0)
        return 0.0;
    double mn = v[s0];
    for (uint32_t i = s0; i < s1; i++)
        mn = v[i] < mn ? v[i] : mn;
    double z = 0;
    for (uint32_t i = s0; i < s1; i++)
        z += exp(-(v[i] - mn) / tau);
    const double softmin = mn - tau * log(z);
    const uint32_t len = s1 - s0, tail = len / 10 ? len / 10 : 1, t0 = s1 - tail;
    double ss = 0;
    for (uint32_t i = t0; i < s1; i++)
        ss += v[i];
    ss /= tail;
    if (grad) {
        for (uint32_t i = s0; i < s1; i++)
            grad[i] -= (float)(exp(-(v[i] - mn) / tau) / z);
        for (uint32_t i = t0; i < s1; i++)
            grad[i] += (float)(1.0 / tail);
    }
    return ss - softmin;
}

nb_status nm_sag_prepare(nm_sag_term *t)
{
    if (!t || !t->step0 || !t->step1 || !t->use || !t->target)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "sag term: missing arrays");
    if (!(t->tau_mV > 0) || !(t->lambda >= 0))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "sag term: tau %g mV and lambda %g (tau > 0, lambda >= 0)",
                        t->tau_mV, t->lambda);
    t->denom = 0;
    for (uint32_t b = 0; b < t->batch; b++) {
        if (t->step1[b] > t->n || t->step0[b] >= t->step1[b])
            return nb_error(NB_ERR_INVALID_ARGUMENT, "sag term: trace %u: step [%u, %u) outside the window of %u",
                            b, t->step0[b], t->step1[b], t->n);
        if (t->use[b]) {
            double s = nm_soft_sag(t->target + (uint64_t)b * t->n, t->step0[b], t->step1[b], t->tau_mV, NULL);
            t->denom += s * s;
        }
    }
    return NB_OK;
}

double nm_sag_loss(void *user, uint32_t at, uint32_t b, uint32_t n, const float *v, float *g)
{
    const nm_sag_term *t = user;
    double sum = 0;
    memset(g, 0, (size_t)b * n * sizeof *g);
    if (t->denom <= 0 || t->lambda == 0)
        return 0.0;
    for (uint32_t i = 0; i < b; i++) {
        const uint32_t k = at + i;
        if (!t->use[k])
            continue;
        float *gi = g + (uint64_t)i * n;
        const double sp = nm_soft_sag(v + (uint64_t)i * n, t->step0[k], t->step1[k], t->tau_mV, gi);
        const double st = nm_soft_sag(t->target + (uint64_t)k * n, t->step0[k], t->step1[k], t->tau_mV, NULL);
        const double d = sp - st, c = t->lambda * 2.0 * d / t->denom;
        sum += t->lambda * d * d / t->denom;
        for (uint32_t j = 0; j < n; j++)
            gi[j] = (float)(gi[j] * c);
    }
    return sum;
}

/* ----------------------------------------------------- spike-count term */

static double logistic(double z)
{
    return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

double nm_soft_spike_count(const float *v, uint32_t n, double threshold, double width, float *grad)
{
    if (n < 2)
        return 0.0;
    double c = 0, prev = logistic((v[0] - threshold) / width);
    for (uint32_t i = 0; i + 1 < n; i++) {
        const double next = logistic((v[i + 1] - threshold) / width);
        if (next > prev) {
            c += next - prev;
            if (grad) {
                grad[i + 1] += (float)(next * (1 - next) / width);
                grad[i] -= (float)(prev * (1 - prev) / width);
            }
        }
        prev = next;
    }
    return c;
}

nb_status nm_spike_prepare(const nm_spike_term *t)
{
    if (!t || !t->target)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "spike term: missing target");
    if (!(t->width_mV > 0) || !(t->lambda >= 0) || !isfinite(t->threshold_mV))
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "spike term: width %g mV, lambda %g, threshold %g mV (width > 0, lambda >= 0)", t->width_mV,
                        t->lambda, t->threshold_mV);
    return NB_OK;
}

double nm_spike_loss(void *user, uint32_t at, uint32_t b, uint32_t n, const float *v, float *g)
{
    const nm_spike_term *t = user;
    double sum = 0;
    memset(g, 0, (size_t)b * n * sizeof *g);
    if (t->lambda == 0)
        return 0.0;
    for (uint32_t i = 0; i < b; i++) {
        float *gi = g + (uint64_t)i * n;
        const double cp = nm_soft_spike_count(v + (uint64_t)i * n, n, t->threshold_mV, t->width_mV, gi);
        const double ct = nm_soft_spike_count(t->target + (uint64_t)(at + i) * n, n, t->threshold_mV, t->width_mV, NULL);
        const double d = (cp - ct) / (ct + 1), c = t->lambda * 2.0 * d / (ct + 1);
        sum += t->lambda * d * d;
        for (uint32_t j = 0; j < n; j++)
            gi[j] = (float)(gi[j] * c);
    }
    return sum;
}

/* ------------------------------------------------------------ shape term */

typedef struct {
    uint32_t key, idx;
} sort_kv;

/* A float's bits as an unsigned key that sorts as the float does */
static uint32_t float_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

/* Least-significant-digit radix sort of a[0..n) by key, three passes of 11
 * bits through tmp; stable, so equal values keep their order. */
static void radix_sort(sort_kv *a, sort_kv *tmp, uint32_t n)
{
    uint32_t count[2048];
    sort_kv *src = a, *dst = tmp;
    for (int pass = 0; pass < 3; pass++) {
        const int shift = 11 * pass;
        memset(count, 0, sizeof count);
        for (uint32_t i = 0; i < n; i++)
            count[(src[i].key >> shift) & 2047]++;
        uint32_t sum = 0;
        for (uint32_t d = 0; d < 2048; d++) {
            const uint32_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (uint32_t i = 0; i < n; i++)
            dst[count[(src[i].key >> shift) & 2047]++] = src[i];
        sort_kv *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) /* an odd number of passes ends in tmp */
        memcpy(a, src, (size_t)n * sizeof *a);
}

/* scratch: three sort_kv arrays and three float arrays of n */
uint64_t nm_shape_scratch_bytes(uint32_t n) { return (uint64_t)n * (3 * sizeof(sort_kv) + 3 * sizeof(float)); }

double nm_sorted_distance(const float *x, const float *y, uint32_t n, double floor, float *grad, void *scratch)
{
    if (n == 0)
        return 0.0;
    sort_kv *a = scratch, *b = a + n, *tmp = b + n;
    double mean = 0;
    for (uint32_t i = 0; i < n; i++) {
        a[i] = (sort_kv){float_key(x[i]), i};
        b[i] = (sort_kv){float_key(y[i]), i};
        mean += y[i];
    }
    mean /= n;
    radix_sort(a, tmp, n);
    radix_sort(b, tmp, n);
    double den = (double)n * floor * floor, num = 0;
    for (uint32_t i = 0; i < n; i++)
        den += (y[i] - mean) * (y[i] - mean);
    for (uint32_t k = 0; k < n; k++) {
        const double d = (double)x[a[k].idx] - y[b[k].idx];
        num += d * d;
        if (grad)
            grad[a[k].idx] += (float)(2.0 * d / den);
    }
    return num / den;
}

nb_status nm_shape_prepare(const nm_shape_term *t)
{
    if (!t || !t->target || !t->scratch)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "shape term: missing target or scratch");
    if (!(t->lambda >= 0) || !isfinite(t->lambda))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "shape term: lambda %g (expected >= 0)", t->lambda);
    if (t->n < 2)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "shape term: %u samples per trace (at least 2)", t->n);
    return NB_OK;
}

double nm_shape_loss(void *user, uint32_t at, uint32_t b, uint32_t n, const float *v, float *g)
{
    const nm_shape_term *t = user;
    memset(g, 0, (size_t)b * n * sizeof *g);
    if (t->lambda == 0 || n < 2)
        return 0.0;
    /* the changes and their gradient after the sorts' scratch */
    float *dx = (float *)(void *)((sort_kv *)t->scratch + 3 * (uint64_t)n), *dy = dx + n, *gd = dy + n;
    double sum = 0;
    for (uint32_t i = 0; i < b; i++) {
        const float *x = v + (uint64_t)i * n, *y = t->target + (uint64_t)(at + i) * n;
        float *gi = g + (uint64_t)i * n;
        double q = nm_sorted_distance(x, y, n, 1.0, gi, t->scratch);
        for (uint32_t k = 0; k + 1 < n; k++) {
            dx[k] = x[k + 1] - x[k];
            dy[k] = y[k + 1] - y[k];
            gd[k] = 0.0f;
        }
        q += nm_sorted_distance(dx, dy, n - 1, 0.1, gd, t->scratch);
        for (uint32_t k = 0; k + 1 < n; k++) {
            gi[k + 1] += gd[k];
            gi[k] -= gd[k];
        }
        for (uint32_t k = 0; k < n; k++)
            gi[k] = (float)(gi[k] * t->lambda);
        sum += t->lambda * q;
    }
    return sum;
}
