/* features.c - electrophysiology features of voltage traces (eFEL definitions,
 * written down in docs/dataset.md). One implementation for C, Lua and the
 * NEURON generator (libnm_features.so through ctypes). */
#include "nm_features.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
    {"depol_block", "1", 1},
    {"sag_amplitude", "mV", 2},
};

nm_feature_opts nm_feature_opts_default(void)
{
    nm_feature_opts o = {-20.0, 12.0, -50.0, 50.0, 1.0, 10.0};
    return o;
}

const char *nm_feature_name(int i) { return i >= 0 && i < NM_FEAT_COUNT ? k_feat[i].name : ""; }
const char *nm_feature_unit(int i) { return i >= 0 && i < NM_FEAT_COUNT ? k_feat[i].unit : ""; }
int nm_feature_scope(int i) { return i >= 0 && i < NM_FEAT_COUNT ? k_feat[i].scope : 0; }

static nb_status check_trace(const double *v, size_t n, double dt)
{
    if (!v)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "features: the voltage trace is NULL");
    if (n < 2)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "features: a trace needs at least 2 samples (got %zu)", n);
    if (!(dt > 0) || !isfinite(dt))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "features: dt must be a positive number of ms (got %g)", dt);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return nb_error(NB_ERR_INVALID_ARGUMENT, "features: sample %zu of the trace is not finite", i);
    return NB_OK;
}

/* First sample index with time >= t (clamped to [0, n]). */
static size_t index_at(double t, double dt, size_t n)
{
    if (t <= 0)
        return 0;
    double x = ceil(t / dt - 1e-9);
    return x >= (double)n ? n : (size_t)x;
}

typedef struct spike {
    size_t up, down, peak; /* upward crossing, downward crossing, maximum */
} spike;

/* Finds the spikes (into out, up to cap); returns how many there are. */
static size_t find_spikes(const double *v, size_t n, double thr, spike *out, size_t cap)
{
    size_t count = 0;
    size_t up = 0;
    int above = 0;
    for (size_t i = 1; i < n; i++) {
        if (!above && v[i - 1] < thr && v[i] >= thr) {
            above = 1;
            up = i;
        } else if (above && v[i - 1] >= thr && v[i] < thr) {
            above = 0;
            size_t pk = up;
            for (size_t j = up; j < i; j++)
                if (v[j] > v[pk])
                    pk = j;
            if (out && count < cap)
                out[count] = (spike){up, i, pk};
            count++;
        }
    }
    return count;
}

nb_status nm_spike_times(const double *v, size_t n, double dt, double threshold, double *times,
                         size_t cap, size_t *count)
{
    nb_status s = check_trace(v, n, dt);
    if (s)
        return s;
    if (!count || (cap && !times))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_spike_times: NULL output");
    size_t c = find_spikes(v, n, threshold, NULL, 0);
    spike *sp = c ? malloc(c * sizeof *sp) : NULL;
    if (c && !sp)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "nm_spike_times: no memory for %zu spikes", c);
    find_spikes(v, n, threshold, sp, c);
    for (size_t k = 0; k < c && k < cap; k++)
        times[k] = (double)sp[k].peak * dt;
    free(sp);
    *count = c;
    return NB_OK;
}

nb_status nm_spike_count_in(const double *v, size_t n, double dt, double threshold, double t0,
                            double t1, size_t *count)
{
    nb_status s = check_trace(v, n, dt);
    if (s)
        return s;
    if (!count)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_spike_count_in: NULL output");
    size_t c = find_spikes(v, n, threshold, NULL, 0);
    spike *sp = c ? malloc(c * sizeof *sp) : NULL;
    if (c && !sp)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "nm_spike_count_in: no memory for %zu spikes", c);
    find_spikes(v, n, threshold, sp, c);
    size_t in = 0;
    for (size_t k = 0; k < c; k++) {
        double t = (double)sp[k].peak * dt;
        if (t >= t0 && t <= t1)
            in++;
    }
    free(sp);
    *count = in;
    return NB_OK;
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

/* Time (ms) where v crosses level between samples i-1 and i, linearly. */
static double cross_time(const double *v, size_t i, double level, double dt)
{
    double a = v[i - 1], b = v[i];
    double f = b != a ? (level - a) / (b - a) : 0.0;
    return ((double)(i - 1) + f) * dt;
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
    if (!(stim_start > 0) || !(stim_end > stim_start) || stim_end >= t_end)
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "nm_features: the step [%g, %g] ms must lie inside the trace (0, %g) ms",
                        stim_start, stim_end, t_end);
    nm_feature_opts o = opts ? *opts : nm_feature_opts_default();
    for (int i = 0; i < NM_FEAT_COUNT; i++)
        out[i] = NAN;

    size_t i_ss = index_at(stim_start, dt, n), i_se = index_at(stim_end, dt, n);

    /* Subthreshold voltages. */
    out[NM_FEAT_VOLTAGE_BASE] = mean_range(v, index_at(0.9 * stim_start, dt, n), i_ss + 1);
    out[NM_FEAT_STEADY_STATE_VOLTAGE] = mean_range(v, i_se + 1, n);
    size_t i_last10 = index_at(stim_end - 0.1 * (stim_end - stim_start), dt, n);
    out[NM_FEAT_STEADY_STATE_VOLTAGE_STIMEND] = mean_range(v, i_last10, i_se);

    /* Decay after the step (eFEL): fit log|v - v(stim_start)| over
     * [stim_end + decay_start, stim_end + decay_end) to a line; tau = |1/slope|. */
    {
        size_t a = index_at(stim_end + o.decay_start, dt, n);
        size_t b = index_at(stim_end + o.decay_end, dt, n);
        if (b <= n && b > a + 2) {
            double ref = v[i_ss < n ? i_ss : n - 1], sx = 0, sy = 0, sxx = 0, sxy = 0;
            size_t m = 0;
            for (size_t i = a; i < b; i++) {
                double d = fabs(v[i] - ref);
                if (d < 1e-9)
                    continue;
                double x = (double)i * dt, y = log(d);
                sx += x, sy += y, sxx += x * x, sxy += x * y, m++;
            }
            double den = (double)m * sxx - sx * sx;
            if (m >= 3 && den > 0) {
                double slope = ((double)m * sxy - sx * sy) / den;
                if (slope != 0)
                    out[NM_FEAT_DECAY_TIME_CONSTANT_AFTER_STIM] = fabs(1.0 / slope);
            }
        }
    }

    /* Sag of a hyperpolarising step: steady state at the end of the step minus
     * the minimum during the step, defined when the step ends below base. */
    {
        double vmin = v[i_ss];
        for (size_t i = i_ss; i < i_se; i++)
            vmin = v[i] < vmin ? v[i] : vmin;
        double ss = out[NM_FEAT_STEADY_STATE_VOLTAGE_STIMEND], vb = out[NM_FEAT_VOLTAGE_BASE];
        if (ss - vb <= 0)
            out[NM_FEAT_SAG_AMPLITUDE] = ss - vmin;
    }

    /* Depolarisation block: V above block_threshold for block_duration ms in a row
     * during the step. */
    {
        size_t run = 0, need = (size_t)ceil(o.block_duration / dt);
        int block = 0;
        for (size_t i = i_ss; i < i_se && !block; i++) {
            run = v[i] > o.block_threshold ? run + 1 : 0;
            block = run >= need;
        }
        out[NM_FEAT_DEPOL_BLOCK] = block ? 0.0 : 1.0;
    }

    /* Spikes. */
    size_t c = find_spikes(v, n, o.threshold, NULL, 0);
    out[NM_FEAT_SPIKECOUNT] = (double)c;
    out[NM_FEAT_INV_FIRST_ISI] = 0.0;
    if (c == 0)
        return NB_OK;
    spike *sp = malloc(c * sizeof *sp);
    size_t *ahp = malloc(c * sizeof *ahp);
    if (!sp || !ahp) {
        free(sp);
        free(ahp);
        return nb_error(NB_ERR_OUT_OF_MEMORY, "nm_features: no memory for %zu spikes", c);
    }
    find_spikes(v, n, o.threshold, sp, c);

    /* AHP minimum of each spike: between its peak and the next peak; after the
     * last, up to stim_end (or the end of the trace if it peaked after). */
    size_t n_ahp = 0;
    for (size_t k = 0; k < c; k++) {
        size_t a = sp[k].peak + 1;
        size_t b = k + 1 < c ? sp[k + 1].peak : (sp[k].peak < i_se ? i_se : n);
        if (b <= a)
            break;
        size_t m = a;
        for (size_t i = a; i < b; i++)
            if (v[i] < v[m])
                m = i;
        ahp[k] = m;
        n_ahp = k + 1;
    }

    double vb = out[NM_FEAT_VOLTAGE_BASE];
    out[NM_FEAT_AP1_PEAK] = v[sp[0].peak];
    for (size_t k = 0; k < c; k++)
        if ((double)sp[k].peak * dt >= stim_start) {
            out[NM_FEAT_TIME_TO_FIRST_SPIKE] = (double)sp[k].peak * dt - stim_start;
            break;
        }
    if (c >= 2)
        out[NM_FEAT_INV_FIRST_ISI] = 1000.0 / ((double)(sp[1].peak - sp[0].peak) * dt);

    /* AP amplitude from the AP begin: the first point, searching forward from
     * the previous AHP minimum (5 ms before the first crossing for the first
     * spike), where dV/dt exceeds dvdt_threshold. */
    double amp_sum = 0;
    for (size_t k = 0; k < c; k++) {
        size_t from = k == 0 ? (sp[0].up > (size_t)(5.0 / dt) ? sp[0].up - (size_t)(5.0 / dt) : 0)
                             : (k - 1 < n_ahp ? ahp[k - 1] : sp[k - 1].down);
        size_t begin = sp[k].up;
        for (size_t i = from; i + 1 <= sp[k].peak; i++)
            if ((v[i + 1] - v[i]) / dt > o.dvdt_threshold) {
                begin = i;
                break;
            }
        amp_sum += v[sp[k].peak] - v[begin];
    }
    out[NM_FEAT_MEAN_AP_AMPLITUDE] = amp_sum / (double)c;

    /* First spike's half width: at the level halfway between the peak and the
     * minimum before it (from stim_start, or the trace start, to the peak). */
    {
        size_t a = sp[0].peak > i_ss ? i_ss : 0;
        double vmin = v[a];
        for (size_t i = a; i < sp[0].peak; i++)
            vmin = v[i] < vmin ? v[i] : vmin;
        double half = 0.5 * (v[sp[0].peak] + vmin);
        size_t i = sp[0].peak;
        while (i > 0 && v[i - 1] >= half)
            i--;
        size_t j = sp[0].peak;
        while (j + 1 < n && v[j + 1] >= half)
            j++;
        if (i > 0 && j + 1 < n)
            out[NM_FEAT_AP1_WIDTH] = cross_time(v, j + 1, half, dt) - cross_time(v, i, half, dt);
    }

    if (n_ahp > 0) {
        double depth = 0, tfp = 0;
        for (size_t k = 0; k < n_ahp; k++) {
            depth += v[ahp[k]] - vb;
            tfp += (double)(ahp[k] - sp[k].peak) * dt;
        }
        out[NM_FEAT_AHP_DEPTH] = depth / (double)n_ahp;
        out[NM_FEAT_AHP_TIME_FROM_PEAK] = tfp / (double)n_ahp;
        out[NM_FEAT_AHP1_DEPTH_FROM_PEAK] = v[sp[0].peak] - v[ahp[0]];
    }

    /* Mean frequency over the step. */
    {
        size_t in = 0;
        double last = 0;
        for (size_t k = 0; k < c; k++) {
            double t = (double)sp[k].peak * dt;
            if (t > stim_start && t < stim_end)
                in++, last = t;
        }
        if (in > 0 && last > stim_start)
            out[NM_FEAT_MEAN_FREQUENCY] = 1000.0 * (double)in / (last - stim_start);
    }
    free(sp);
    free(ahp);
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
