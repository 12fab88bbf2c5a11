/* features.c - electrophysiology features of voltage traces: eFEL's
 * definitions (eFEL 5.7.16, default settings), written in C from what eFEL's
 * source computes and written down in docs/dataset.md; tests/test_features.c
 * holds them to numbers that eFEL itself gave. One implementation for C, Lua
 * and the NEURON generator (libnm_features.so through ctypes). */
#include "nm_features.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef NM_FEATURES_STANDALONE
/* The ctypes library is this file alone: it carries its own copy of the
 * runtime's error entry points (same names, same behaviour). */
static _Thread_local char g_msg[1024];
const char *nb_last_error(void) { return g_msg; }
nb_status nb_error(nb_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return s;
}
#endif

static const struct {
    const char *name, *unit;
    int scope;
} k_feat[NM_FEAT_COUNT] = {
    {"Spikecount", "1", 1},
    {"time_to_first_spike", "ms", 1},
    {"AP1_peak", "mV", 1},
    {"AP1_width", "ms", 1},
    {"mean_AP_amplitude", "mV", 1},
    {"AHP_depth", "mV", 1},
    {"AHP1_depth_from_peak", "mV", 1},
    {"AHP_time_from_peak", "ms", 1},
    {"inv_first_ISI", "Hz", 1},
    {"mean_frequency", "Hz", 1},
    {"voltage_base", "mV", 3},
    {"steady_state_voltage", "mV", 3},
    {"steady_state_voltage_stimend", "mV", 3},
    {"decay_time_constant_after_stim", "ms", 3},
    {"depol_block", "1", 0},
    {"sag_amplitude", "mV", 2},
    {"depol_block_bool", "1", 1},
    {"Spikecount_stimint", "1", 0},
};

nm_feature_opts nm_feature_opts_default(void)
{
    nm_feature_opts o = {-20.0, 10.0, 3, 0.1, 1.0, 10.0};
    return o;
}

const char *nm_feature_name(int i) { return i >= 0 && i < NM_FEAT_COUNT ? k_feat[i].name : ""; }
const char *nm_feature_unit(int i) { return i >= 0 && i < NM_FEAT_COUNT ? k_feat[i].unit : ""; }
int nm_feature_scope(int i) { return i >= 0 && i < NM_FEAT_COUNT ? k_feat[i].scope : 0; }

static nb_status check_trace(const double *v, size_t n, double dt)
{
    if (!v)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "features: the voltage trace is NULL");
    if (n < 3)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "features: a trace needs at least 3 samples (got %zu)", n);
    if (!(dt > 0) || !isfinite(dt))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "features: dt must be a positive number of ms (got %g)", dt);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return nb_error(NB_ERR_INVALID_ARGUMENT, "features: sample %zu of the trace is not finite", i);
    return NB_OK;
}

/* The trace as the features see it: times T and voltages V, m samples. */
typedef struct grid {
    double *T, *V;
    size_t m;
} grid;

/* eFEL's resampling (its LinearInterpolation, interp_step): times from 0 in
 * steps of `step` added up one at a time, as many as ceil(span / step), plus
 * one more while the last is short of the end; each voltage is linear
 * between the two samples around its time, or the last sample past the end.
 * With step 0 the samples are taken as they are. */
static nb_status make_grid(const double *v, size_t n, double dt, double step, grid *g)
{
    double stop = (double)(n - 1) * dt;
    size_t cap = n;
    if (step > 0) {
        double c = ceil(stop / step);
        if (!(c < 1e8))
            return nb_error(NB_ERR_INVALID_ARGUMENT,
                            "features: resampling %g ms at %g ms steps would make %g samples", stop, step, c);
        cap = (size_t)c + 1;
    }
    g->T = malloc(cap * sizeof *g->T);
    g->V = malloc(cap * sizeof *g->V);
    if (!g->T || !g->V) {
        free(g->T), free(g->V);
        g->T = g->V = NULL;
        return nb_error(NB_ERR_OUT_OF_MEMORY, "features: no memory for %zu samples", cap);
    }
    if (!(step > 0)) {
        for (size_t i = 0; i < n; i++)
            g->T[i] = (double)i * dt, g->V[i] = v[i];
        g->m = n;
        return NB_OK;
    }
    size_t m = cap - 1;
    double x = 0.0;
    for (size_t i = 0; i < m; i++) {
        g->T[i] = x;
        x += step;
    }
    if (m == 0 || g->T[m - 1] < stop)
        g->T[m++] = x;
    size_t j = 0, k = 0;
    for (; k < m; k++) {
        double t = g->T[k];
        while ((double)(j + 1) * dt < t) {
            j++;
            if (j + 1 >= n) {
                j = n - 1;
                break;
            }
        }
        if (j == n - 1) {
            g->V[k++] = v[j];
            break;
        }
        double x0 = (double)j * dt, x1 = (double)(j + 1) * dt;
        g->V[k] = v[j] + (v[j + 1] - v[j]) / (x1 - x0) * (t - x0);
    }
    g->m = k;
    return NB_OK;
}

/* First index whose time is >= t (m if none). */
static size_t first_at(const grid *g, double t)
{
    size_t i = 0;
    while (i < g->m && g->T[i] < t)
        i++;
    return i;
}

static double mean_range(const double *v, size_t a, size_t b)
{
    if (b <= a)
        return NAN;
    double s = 0;
    for (size_t i = a; i < b; i++)
        s += v[i];
    return s / (double)(b - a);
}

/* eFEL's peak_indices: upward crossings (V[i-1] < thr < V[i]) and downward
 * ones (V[i-1] > thr > V[i]); downward ones before the first upward one are
 * dropped, upward ones beyond the number of downward ones too, and the k-th
 * upward crossing is paired with the k-th downward one; the peak is the first
 * maximum from the one to the other, both included. up and dn are scratch of
 * g->m entries; returns the number of peaks written to pk. */
static size_t find_peaks(const grid *g, double thr, size_t *up, size_t *dn, size_t *pk)
{
    const double *V = g->V;
    size_t nu = 0, nd = 0;
    for (size_t i = 1; i < g->m; i++) {
        if (V[i] > thr && V[i - 1] < thr)
            up[nu++] = i;
        else if (V[i] < thr && V[i - 1] > thr)
            dn[nd++] = i;
    }
    if (nu == 0 || nd == 0)
        return 0;
    size_t d0 = 0;
    while (d0 < nd && dn[d0] < up[0])
        d0++;
    nd -= d0;
    if (nu > nd)
        nu = nd;
    size_t np = 0;
    for (size_t i = 0; i < nu; i++) {
        double best = -1e9;
        int set = 0;
        size_t at = 0;
        for (size_t j = up[i]; j <= dn[d0 + i]; j++)
            if (best < V[j])
                best = V[j], at = j, set = 1;
        if (set)
            pk[np++] = at;
    }
    return np;
}

/* eFEL's first_min_element over V[a, b): the first sample followed by two
 * that are not lower than it, else the lowest; b when the range is empty. */
static size_t first_min(const double *V, size_t a, size_t b)
{
    if (a >= b)
        return b;
    size_t lowest = a, low_min = a;
    int count = 0;
    for (size_t k = a + 1; k < b; k++) {
        if (V[k] < V[lowest])
            lowest = k;
        if (V[k] >= V[low_min])
            count++;
        if (V[k] < V[low_min])
            count = 0, low_min = k;
        if (count == 2)
            return low_min;
    }
    return lowest;
}

/* eFEL's AP_begin_indices. For each peak after the stimulus start index sb,
 * from the peak backwards to its search floor (sb - 2 for the first, then the
 * AHP minima after sb in turn), the last sample whose dV/dt (central
 * differences of V over those of T) is at most the threshold; the AP begins
 * just after it, provided the next `width` samples all reach the threshold,
 * else the search goes on further back. A spike whose search reaches its
 * floor has no begin (and later ones shift, as in eFEL). Returns the number
 * of begins written to apbi, or -1 where eFEL fails (more peaks than floors). */
static long ap_begins(const grid *g, double *dvdt, const size_t *pk, size_t np, const size_t *ahp,
                      size_t nahp, size_t sb, double thr, int width, size_t *floor_, size_t *apbi)
{
    const double *V = g->V, *T = g->T;
    size_t m = g->m;
    for (size_t i = 0; i < m; i++) {
        double dv, dt;
        if (i == 0)
            dv = V[1] - V[0], dt = T[1] - T[0];
        else if (i == m - 1)
            dv = V[m - 1] - V[m - 2], dt = T[m - 1] - T[m - 2];
        else
            dv = (V[i + 1] - V[i - 1]) / 2, dt = (T[i + 1] - T[i - 1]) / 2;
        dvdt[i] = dv / dt;
    }
    size_t nf = 0, ns = 0;
    floor_[nf++] = sb > 1 ? sb - 2 : (sb == 1 ? 0 : sb);
    for (size_t i = 0; i < nahp; i++)
        if (ahp[i] > sb)
            floor_[nf++] = ahp[i];
    for (size_t i = 0; i < np; i++)
        if (pk[i] > sb)
            ns++;
    if (nf < ns)
        return -1;
    if (width < 1 || (size_t)width > m)
        return 0;
    size_t w = (size_t)width, nb = 0, s = 0;
    for (size_t i = 0; i < np; i++) {
        if (pk[i] <= sb)
            continue;
        size_t lo = floor_[s++], newbegin = pk[i], begin;
        int skip = 0, again;
        do {
            begin = lo;
            for (size_t j = newbegin; j > lo; j--)
                if (dvdt[j - 1] <= thr) {
                    begin = j;
                    break;
                }
            if (begin > m - w)
                begin = m - w;
            if (begin == lo) {
                skip = 1;
                break;
            }
            newbegin = begin - 1;
            again = 0;
            for (size_t k = begin; k < begin + w; k++)
                if (dvdt[k] < thr)
                    again = 1;
        } while (again);
        if (!skip)
            apbi[nb++] = begin;
    }
    return (long)nb;
}

/* eFEL's depol_block on the resampled trace (1: no block; NaN: eFEL's None).
 * Level: the mean AP-begin voltage (no AP begin: no block). Blocked when the
 * voltage, anywhere in the trace, rises above the level and stays there more
 * than 50 ms (an unfinished rise ends at stim_end), or never rises above it;
 * or when, within the step, it falls below -75 mV and stays there more than
 * 50 ms. The k-th rise is paired with the k-th fall, as eFEL pairs them. */
static double depol_block(const grid *g, const size_t *apbi, long nb, size_t i_ss, size_t i_se,
                          size_t *up, size_t *dn)
{
    const double *V = g->V, *T = g->T;
    size_t m = g->m;
    if (nb <= 0)
        return 1.0;
    double level = 0;
    for (long k = 0; k < nb; k++)
        level += V[apbi[k]];
    level /= (double)nb;
    size_t nu = 0, nd = 0;
    for (size_t i = 0; i + 1 < m; i++) {
        int a = V[i] > level, b = V[i + 1] > level;
        if (b - a == 1)
            up[nu++] = i;
        else if (b - a == -1)
            dn[nd++] = i;
    }
    if (nu > nd)
        dn[nd++] = i_se;
    if (nu == 0)
        return NAN;
    double longest = -INFINITY;
    for (size_t k = 0; k < nu; k++) {
        double d = T[dn[k]] - T[up[k]];
        longest = d > longest ? d : longest;
    }
    if (longest > 50.0)
        return NAN;
    nu = nd = 0;
    for (size_t i = 0; i + 1 < m; i++) {
        int a = V[i] > -75.0, b = V[i + 1] > -75.0;
        if (b - a == 1)
            up[nu++] = i;
        else if (b - a == -1 && i > i_ss && i < i_se)
            dn[nd++] = i;
    }
    if (nd == 0)
        return 1.0;
    size_t nu2 = 0;
    for (size_t k = 0; k < nu; k++)
        if (up[k] > i_ss && up[k] < i_se && up[k] > dn[0])
            up[nu2++] = up[k];
    if (nu2 < nd)
        up[nu2++] = i_se;
    longest = -INFINITY;
    for (size_t k = 0; k < nd && k < nu2; k++) {
        double d = T[up[k]] - T[dn[k]];
        longest = d > longest ? d : longest;
    }
    return longest > 50.0 ? NAN : 1.0;
}

/* Scratch for the spike features: five index arrays of m entries. */
typedef struct work {
    grid g;
    size_t *up, *dn, *pk, *ahp, *aux;
    double *dvdt;
} work;

static void work_free(work *w)
{
    free(w->g.T), free(w->g.V), free(w->up), free(w->dn), free(w->pk), free(w->ahp), free(w->aux),
        free(w->dvdt);
}

static nb_status work_make(const double *v, size_t n, double dt, double step, work *w)
{
    memset(w, 0, sizeof *w);
    nb_status s = make_grid(v, n, dt, step, &w->g);
    if (s)
        return s;
    size_t m = w->g.m;
    w->up = malloc(m * sizeof(size_t));
    w->dn = malloc(m * sizeof(size_t));
    w->pk = malloc(m * sizeof(size_t));
    w->ahp = malloc(m * sizeof(size_t));
    w->aux = malloc(m * sizeof(size_t));
    w->dvdt = malloc(m * sizeof(double));
    if (!w->up || !w->dn || !w->pk || !w->ahp || !w->aux || !w->dvdt) {
        work_free(w);
        return nb_error(NB_ERR_OUT_OF_MEMORY, "features: no memory for %zu samples", m);
    }
    return NB_OK;
}

static nb_status spike_peaks(const double *v, size_t n, double dt, double threshold, work *w, size_t *np)
{
    nb_status s = check_trace(v, n, dt);
    if (s)
        return s;
    if ((s = work_make(v, n, dt, nm_feature_opts_default().interp_step, w)))
        return s;
    *np = find_peaks(&w->g, threshold, w->up, w->dn, w->pk);
    return NB_OK;
}

nb_status nm_spike_times(const double *v, size_t n, double dt, double threshold, double *times,
                         size_t cap, size_t *count)
{
    if (!count || (cap && !times))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_spike_times: NULL output");
    work w;
    size_t np = 0;
    nb_status s = spike_peaks(v, n, dt, threshold, &w, &np);
    if (s)
        return s;
    for (size_t k = 0; k < np && k < cap; k++)
        times[k] = w.g.T[w.pk[k]];
    work_free(&w);
    *count = np;
    return NB_OK;
}

nb_status nm_spike_count_in(const double *v, size_t n, double dt, double threshold, double t0,
                            double t1, size_t *count)
{
    if (!count)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_spike_count_in: NULL output");
    work w;
    size_t np = 0;
    nb_status s = spike_peaks(v, n, dt, threshold, &w, &np);
    if (s)
        return s;
    size_t in = 0;
    for (size_t k = 0; k < np; k++)
        if (w.g.T[w.pk[k]] >= t0 && w.g.T[w.pk[k]] <= t1)
            in++;
    work_free(&w);
    *count = in;
    return NB_OK;
}

nb_status nm_features(const double *v, size_t n, double dt, double stim_start, double stim_end,
                      const nm_feature_opts *opts, double out[NM_FEAT_COUNT])
{
    nb_status st = check_trace(v, n, dt);
    if (st)
        return st;
    if (!out)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_features: NULL output");
    double t_end = (double)(n - 1) * dt;
    if (!(stim_start > 0) || !(stim_end > stim_start) || !(stim_end < t_end))
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "nm_features: the step [%g, %g] ms must lie inside the trace (0, %g) ms",
                        stim_start, stim_end, t_end);
    nm_feature_opts o = opts ? *opts : nm_feature_opts_default();
    if (!(o.interp_step >= 0) || !(o.decay_end > o.decay_start) || o.derivative_window < 1)
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "nm_features: bad options (interp_step %g >= 0, decay window [%g, %g] ms, "
                        "derivative_window %d >= 1)",
                        o.interp_step, o.decay_start, o.decay_end, o.derivative_window);
    for (int i = 0; i < NM_FEAT_COUNT; i++)
        out[i] = NAN;
    work w;
    if ((st = work_make(v, n, dt, o.interp_step, &w)))
        return st;
    const double *T = w.g.T, *V = w.g.V;
    size_t m = w.g.m;
    size_t i_ss = first_at(&w.g, stim_start), i_se = first_at(&w.g, stim_end);

    /* voltage_base: from the first sample at or after 0.9 stim_start to the
     * last one not after stim_start (eFEL's 1e-10 ms tolerance). */
    {
        size_t a = first_at(&w.g, 0.9 * stim_start), b = m;
        for (size_t i = m - 1; i > 0; i--)
            if (T[i] - stim_start < 1e-10) {
                b = i + 1;
                break;
            }
        out[NM_FEAT_VOLTAGE_BASE] = mean_range(V, a, b);
    }
    {
        size_t a = m;
        while (a > 0 && T[a - 1] > stim_end)
            a--;
        out[NM_FEAT_STEADY_STATE_VOLTAGE] = mean_range(V, a, m);
    }
    out[NM_FEAT_STEADY_STATE_VOLTAGE_STIMEND] =
        mean_range(V, first_at(&w.g, stim_end - 0.1 * (stim_end - stim_start)), i_se);

    /* decay_time_constant_after_stim: log|V - V(stim_start)| over
     * [stim_end + decay_start, stim_end + decay_end) fitted to a line in t;
     * tau = |1 / slope| (a zero difference makes it NaN, as in eFEL). */
    {
        size_t a = first_at(&w.g, stim_end + o.decay_start), b = first_at(&w.g, stim_end + o.decay_end);
        if (b > a && i_ss < m) {
            double ref = V[i_ss], sx = 0, sy = 0, sxx = 0, sxy = 0, k = (double)(b - a);
            for (size_t i = a; i < b; i++) {
                double x = T[i], y = log(fabs(V[i] - ref));
                sx += x, sy += y, sxx += x * x, sxy += x * y;
            }
            double slope = (k * sxy - sx * sy) / (k * sxx - sx * sx);
            out[NM_FEAT_DECAY_TIME_CONSTANT_AFTER_STIM] = fabs(-1.0 / slope);
        }
    }

    /* sag_amplitude: steady_state_voltage_stimend - the minimum in the step,
     * when the step ends at or below voltage_base. */
    if (i_se > i_ss) {
        double vmin = V[i_ss];
        for (size_t i = i_ss; i < i_se; i++)
            vmin = V[i] < vmin ? V[i] : vmin;
        double ss = out[NM_FEAT_STEADY_STATE_VOLTAGE_STIMEND], vb = out[NM_FEAT_VOLTAGE_BASE];
        if (ss - vb <= 0)
            out[NM_FEAT_SAG_AMPLITUDE] = ss - vmin;
    }

    /* Spikes. */
    size_t *pk = w.pk, *ahp = w.ahp;
    size_t np = find_peaks(&w.g, o.threshold, w.up, w.dn, pk);
    out[NM_FEAT_SPIKECOUNT] = (double)np;
    size_t in_step = 0;
    double last_in = 0.0;
    for (size_t k = 0; k < np; k++)
        if (T[pk[k]] >= stim_start && T[pk[k]] <= stim_end)
            in_step++, last_in = T[pk[k]];
    out[NM_FEAT_SPIKECOUNT_STIMINT] = (double)in_step;
    if (np == 0) {
        /* no spike: no AP begin, so no depolarisation block (eFEL) */
        out[NM_FEAT_DEPOL_BLOCK] = 1.0;
        out[NM_FEAT_DEPOL_BLOCK_BOOL] = 0.0;
        goto done;
    }
    out[NM_FEAT_TIME_TO_FIRST_SPIKE] = T[pk[0]] - stim_start;
    out[NM_FEAT_AP1_PEAK] = V[pk[0]];
    if (np >= 2)
        out[NM_FEAT_INV_FIRST_ISI] = 1000.0 / (T[pk[1]] - T[pk[0]]);
    /* mean_frequency: 0 when every spike lies outside the step (eFEL) */
    if (last_in != stim_start)
        out[NM_FEAT_MEAN_FREQUENCY] = in_step ? 1000.0 * (double)in_step / (last_in - stim_start) : 0.0;

    /* AHP minima (eFEL min_AHP_indices): the first local minimum from each
     * peak to the next peak, after the last one to the end of the trace;
     * dropped where it is the last sample. */
    size_t nahp = 0;
    for (size_t k = 0; k < np; k++) {
        size_t a = pk[k], b = k + 1 < np ? pk[k + 1] : m;
        size_t i = first_min(V, a, b);
        if (i != m - 1)
            ahp[nahp++] = i;
    }
    if (nahp > 0) {
        double vb = out[NM_FEAT_VOLTAGE_BASE], depth = 0, tfp = 0;
        size_t nt = 0;
        for (size_t k = 0; k < nahp; k++)
            depth += V[ahp[k]] - vb;
        for (size_t k = 0; k < nahp && k < np; k++)
            tfp += T[ahp[k]] - T[pk[k]], nt++;
        out[NM_FEAT_AHP_DEPTH] = depth / (double)nahp;
        out[NM_FEAT_AHP_TIME_FROM_PEAK] = tfp / (double)nt;
        out[NM_FEAT_AHP1_DEPTH_FROM_PEAK] = V[pk[0]] - V[ahp[0]];

        /* AP1_width (eFEL spike_half_width of the first spike): at the level
         * halfway between the peak and its AHP minimum, from the first sample
         * at or above it after stim_start to the first at or below it after
         * the peak, each crossing placed linearly within its sample step.
         * Undefined for a first spike before stim_start. */
        size_t p = pk[0], a = ahp[0];
        if (p >= i_ss && i_ss > 0) {
            double half = (V[p] + V[a]) / 2.0;
            size_t r = i_ss, f = p;
            while (r < p && !(V[r] >= half))
                r++;
            while (f < a && !(V[f] <= half))
                f++;
            if (f > 0) {
                double tr = (T[r] - T[r - 1]) * (half - V[r]) / (V[r] - V[r - 1]);
                double tf = (T[f] - T[f - 1]) * (half - V[f]) / (V[f] - V[f - 1]);
                out[NM_FEAT_AP1_WIDTH] = T[f] - tr - T[r] + tf;
            }
        }
    }

    /* mean_AP_amplitude: peaks in [stim_start, stim_end] minus the AP begins,
     * paired in order (eFEL AP_amplitude), averaged. */
    long nb = ap_begins(&w.g, w.dvdt, pk, np, ahp, nahp, i_ss, o.dvdt_threshold, o.derivative_window,
                        w.aux, w.up);
    size_t *apbi = w.up;
    if (nb > 0 && in_step > 0 && in_step <= (size_t)nb) {
        double sum = 0;
        size_t j = 0;
        for (size_t k = 0; k < np; k++)
            if (T[pk[k]] >= stim_start && T[pk[k]] <= stim_end)
                sum += V[pk[k]] - V[apbi[j++]];
        out[NM_FEAT_MEAN_AP_AMPLITUDE] = sum / (double)in_step;
    }

    /* depol_block, with the AP begins (moved out of the scratch it needs) */
    if (nb > 0)
        memcpy(w.pk, apbi, (size_t)nb * sizeof *apbi);
    out[NM_FEAT_DEPOL_BLOCK] = depol_block(&w.g, w.pk, nb, i_ss, i_se, w.up, w.dn);
    out[NM_FEAT_DEPOL_BLOCK_BOOL] = isnan(out[NM_FEAT_DEPOL_BLOCK]) ? 1.0 : 0.0;

done: /* an infinite value (a flat decay, a zero-length ISI) is undefined too */
    for (int i = 0; i < NM_FEAT_COUNT; i++)
        if (!isfinite(out[i]))
            out[i] = NAN;
    work_free(&w);
    return NB_OK;
}

nb_status nm_fi_slope(const double *amp_pA, const double *rate_Hz, size_t n, double i_thr,
                      double span, double *slope)
{
    if (!amp_pA || !rate_Hz || !slope)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_fi_slope: NULL argument");
    double sx = 0, sy = 0, sxx = 0, sxy = 0, lo = INFINITY, hi = -INFINITY;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        double x = amp_pA[i];
        if (!(x >= i_thr - 1e-9 && x <= i_thr + span + 1e-9) || !isfinite(rate_Hz[i]))
            continue;
        sx += x, sy += rate_Hz[i], sxx += x * x, sxy += x * rate_Hz[i], m++;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    if (m < 2 || !(hi > lo))
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "nm_fi_slope: need at least 2 distinct amplitudes in [%g, %g] pA (got %zu points)",
                        i_thr, i_thr + span, m);
    double den = (double)m * sxx - sx * sx;
    *slope = ((double)m * sxy - sx * sy) / den;
    return NB_OK;
}
