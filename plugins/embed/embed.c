/* embed.c - the embedding ABI (noble_embed.h, docs/plugin-abi.md) over the
 * models layer: a checkpoint opened as an inference model on a context,
 * steps built by nm_window_step (the code the Lua module's
 * noble.step_current runs), prediction by nm_model_predict (m:predict's),
 * spikes by nm_spike_times (the features'). Messages go through the
 * runtime's per-thread nb_error, so noble_last_error is nb_last_error. */
#include "noble_embed.h"

#include "nm_models.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Cells per nm_model_predict call: the model is made for this batch. */
#define EMBED_BATCH 32

#define STR2(x) #x
#define STR(x) STR2(x)

struct noble_model {
    nb_context *ctx;
    nm_model *model;
    nm_config config;
    nm_embedding emb;
    nm_window win;
    double *points; /* [hof][2] */
    uint32_t hof;
    float *current, *codes, *volt; /* [EMBED_BATCH][length], [EMBED_BATCH][3], [EMBED_BATCH][length] */
    double *trace;                 /* [length] one cell's trace, for nm_spike_times */
};

int noble_version(int *major, int *minor, int *patch)
{
    if (major)
        *major = NB_VERSION_MAJOR;
    if (minor)
        *minor = NB_VERSION_MINOR;
    if (patch)
        *patch = NB_VERSION_PATCH;
    return NOBLE_ABI_VERSION;
}

const char *noble_version_string(void)
{
    return STR(NB_VERSION_MAJOR) "." STR(NB_VERSION_MINOR) "." STR(NB_VERSION_PATCH) " (ABI " STR(NOBLE_ABI_VERSION) ")";
}

const char *noble_status_name(noble_status s)
{
    switch (s) {
    case NOBLE_OK: return "ok";
    case NOBLE_ERR_ARGUMENT: return "invalid argument";
    case NOBLE_ERR_IO: return "cannot read the checkpoint";
    case NOBLE_ERR_CHECKPOINT: return "checkpoint lacks what prediction needs";
    case NOBLE_ERR_UNSUPPORTED: return "unsupported";
    case NOBLE_ERR_DEVICE: return "device";
    case NOBLE_ERR_MEMORY: return "out of memory";
    }
    return "unknown status";
}

const char *noble_last_error(void)
{
    return nb_last_error();
}

/* A runtime or models status as the ABI's (the message is already set). */
static noble_status from_nb(nb_status s)
{
    switch (s) {
    case NB_OK: return NOBLE_OK;
    case NB_ERR_INVALID_ARGUMENT: return NOBLE_ERR_ARGUMENT;
    case NB_ERR_OUT_OF_MEMORY: return NOBLE_ERR_MEMORY;
    case NB_ERR_IO: return NOBLE_ERR_IO;
    case NB_ERR_UNSUPPORTED: return NOBLE_ERR_DEVICE; /* the device or the build cannot do it */
    default: return NOBLE_ERR_DEVICE;
    }
}

/* Sets the message and returns the status. */
static noble_status fail(noble_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static noble_status fail(noble_status s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nb_error(NB_ERR_INVALID_ARGUMENT, "%s", msg);
    return s;
}

void noble_close(noble_model *m)
{
    if (!m)
        return;
    nm_model_destroy(m->model);
    nb_context_destroy(m->ctx);
    free(m->points);
    free(m->current);
    free(m->codes);
    free(m->volt);
    free(m->trace);
    free(m);
}

noble_status noble_open(const char *checkpoint, const char *backend, int device, int threads, noble_model **out)
{
    if (!out)
        return fail(NOBLE_ERR_ARGUMENT, "noble_open: out is NULL");
    *out = NULL;
    if (!checkpoint)
        return fail(NOBLE_ERR_ARGUMENT, "noble_open: checkpoint is NULL");
    nb_context_options o;
    nb_context_options_default(&o);
    if (!backend || !strcmp(backend, "auto"))
        o.backend = NB_BACKEND_AUTO;
    else if (!strcmp(backend, "cpu"))
        o.backend = NB_BACKEND_CPU;
    else if (!strcmp(backend, "vulkan"))
        o.backend = NB_BACKEND_VULKAN;
    else
        return fail(NOBLE_ERR_ARGUMENT, "noble_open: backend '%s': expected \"auto\", \"cpu\" or \"vulkan\"",
                    backend);
    if (device < -1)
        return fail(NOBLE_ERR_ARGUMENT, "noble_open: device %d: expected a device index or -1", device);
    if (threads < 0 || threads > 4096)
        return fail(NOBLE_ERR_ARGUMENT, "noble_open: threads %d: expected 0 (the default) to 4096", threads);
    o.device_index = device;
    o.threads = (uint32_t)threads;

    noble_model *m = calloc(1, sizeof *m);
    if (!m)
        return fail(NOBLE_ERR_MEMORY, "noble_open: out of host memory");
    nm_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    noble_status r = NOBLE_OK;
    nb_status s = nm_checkpoint_load(checkpoint, NULL, &ck);
    if (s) {
        r = s == NB_ERR_OUT_OF_MEMORY ? NOBLE_ERR_MEMORY : NOBLE_ERR_IO;
        goto done;
    }
    m->config = ck.config;
    if (!ck.has_embedding) {
        r = fail(NOBLE_ERR_CHECKPOINT,
                 "%s has no embedding: it is a bare operator (noble model init), not a model trained on a dataset "
                 "by noble train; it cannot map an amplitude and (I_thr, s_thr) to a voltage",
                 checkpoint);
        goto done;
    }
    m->emb = ck.embedding;
    if (m->emb.n_codes != 3) {
        r = fail(NOBLE_ERR_CHECKPOINT, "%s: its embedding has %u codes; this ABI knows amplitude, I_thr, s_thr",
                 checkpoint, m->emb.n_codes);
        goto done;
    }
    if (nm_checkpoint_window(&ck, &m->win)) {
        r = fail(NOBLE_ERR_CHECKPOINT, "%s: %s", checkpoint, nb_last_error());
        goto done;
    }
    uint32_t n = 0;
    if (nm_checkpoint_train_points(&ck, NULL, 0, &n)) {
        r = fail(NOBLE_ERR_CHECKPOINT, "%s: %s", checkpoint, nb_last_error());
        goto done;
    }
    if (n) {
        if (!(m->points = malloc(2 * (size_t)n * sizeof *m->points))) {
            r = fail(NOBLE_ERR_MEMORY, "noble_open: out of host memory");
            goto done;
        }
        nm_checkpoint_train_points(&ck, m->points, n, &m->hof);
    }
    const size_t len = m->config.length;
    m->current = malloc(EMBED_BATCH * len * sizeof *m->current);
    m->volt = malloc(EMBED_BATCH * len * sizeof *m->volt);
    m->codes = malloc(EMBED_BATCH * 3 * sizeof *m->codes);
    m->trace = malloc(len * sizeof *m->trace);
    if (!m->current || !m->volt || !m->codes || !m->trace) {
        r = fail(NOBLE_ERR_MEMORY, "noble_open: out of host memory");
        goto done;
    }
    if ((s = nb_context_create(&o, &m->ctx)) || (s = nm_model_create(m->ctx, &m->config, EMBED_BATCH, 0, &m->model)) ||
        (s = nm_model_set_params(m->model, ck.params)) || (s = nm_model_set_embedding(m->model, &ck.embedding)))
        r = from_nb(s);
done:
    nm_checkpoint_free(&ck);
    if (r) {
        noble_close(m);
        return r;
    }
    *out = m;
    return NOBLE_OK;
}

noble_status noble_get_info(const noble_model *m, noble_info *out)
{
    if (!m || !out)
        return fail(NOBLE_ERR_ARGUMENT, "noble_get_info: NULL argument");
    memset(out, 0, sizeof *out);
    out->samples = m->win.length;
    out->dt_ms = m->win.dt_ms;
    out->window_ms = m->win.length * m->win.dt_ms;
    out->step_start_ms = m->win.stim_start_ms;
    out->step_duration_ms = m->win.stim_end_ms - m->win.stim_start_ms;
    out->amplitude_min_pA = m->emb.min[0];
    out->amplitude_max_pA = m->emb.max[0];
    out->I_thr_min_pA = m->emb.min[1];
    out->I_thr_max_pA = m->emb.max[1];
    out->s_thr_min = m->emb.min[2];
    out->s_thr_max = m->emb.max[2];
    out->hof_models = m->hof;
    out->batch = EMBED_BATCH;
    snprintf(out->backend, sizeof out->backend, "%s", nb_backend_name(nb_context_backend(m->ctx)));
    const nb_device_info *d = nb_context_device(m->ctx);
    snprintf(out->device, sizeof out->device, "%s", d ? d->name : "");
    snprintf(out->cell, sizeof out->cell, "%s", m->win.cell);
    return NOBLE_OK;
}

noble_status noble_hof_model(const noble_model *m, uint32_t index, double *I_thr_pA, double *s_thr)
{
    if (!m || !I_thr_pA || !s_thr)
        return fail(NOBLE_ERR_ARGUMENT, "noble_hof_model: NULL argument");
    if (index >= m->hof)
        return fail(NOBLE_ERR_ARGUMENT, "HoF model %u: the checkpoint records %u (0 to %d)", index, m->hof,
                    (int)m->hof - 1);
    *I_thr_pA = m->points[2 * index];
    *s_thr = m->points[2 * index + 1];
    return NOBLE_OK;
}

/* Output samples at dt; 0 when dt is refused (message set). */
static uint32_t out_samples(const noble_model *m, double dt)
{
    if (!isfinite(dt) || !(dt > 0)) {
        fail(NOBLE_ERR_ARGUMENT, "output dt %g ms: expected a finite number > 0", dt);
        return 0;
    }
    double span = (m->win.length - 1) * m->win.dt_ms;
    double k = floor(span / dt * (1 + 1e-12));
    if (k < 1) {
        fail(NOBLE_ERR_UNSUPPORTED, "output dt %g ms leaves fewer than 2 samples in the %g ms window", dt, span);
        return 0;
    }
    if (k >= 1e8) {
        fail(NOBLE_ERR_UNSUPPORTED, "output dt %g ms gives more than 1e8 samples in the %g ms window", dt, span);
        return 0;
    }
    return (uint32_t)k + 1;
}

uint32_t noble_output_samples(const noble_model *m, double dt_ms)
{
    if (!m) {
        fail(NOBLE_ERR_ARGUMENT, "noble_output_samples: model is NULL");
        return 0;
    }
    return out_samples(m, dt_ms);
}

/* v[length] at spacing src_dt, linearly interpolated at k dt, k < n_out; a
 * position within 1e-9 of a sample takes that sample exactly. */
static void resample(const float *v, uint32_t len, double src_dt, double dt, uint32_t n_out, float *out)
{
    const double r = dt / src_dt;
    for (uint32_t k = 0; k < n_out; k++) {
        double p = k * r, i = floor(p), f = p - i;
        if (f > 1 - 1e-9) {
            i += 1;
            f = 0;
        }
        size_t j = i < 0 ? 0 : (size_t)i;
        if (j >= len - 1 || f < 1e-9)
            out[k] = v[j < len ? j : len - 1];
        else
            out[k] = (float)(v[j] + f * ((double)v[j + 1] - v[j]));
    }
}

noble_status noble_predict(noble_model *m, const noble_cell *cells, uint32_t n, double delay_ms,
                           double duration_ms, double dt_ms, float *voltage, double *spike_times,
                           uint32_t spike_cap, uint32_t *spike_counts)
{
    if (!m || (n && (!cells || !voltage)) || (spike_cap && !spike_times))
        return fail(NOBLE_ERR_ARGUMENT, "noble_predict: NULL argument");
    const nm_window *w = &m->win;
    const double window_ms = w->length * w->dt_ms, dur = w->stim_end_ms - w->stim_start_ms;
    if (!isfinite(delay_ms) || !isfinite(duration_ms))
        return fail(NOBLE_ERR_ARGUMENT, "the step's delay (%g ms) and duration (%g ms) must be finite", delay_ms,
                    duration_ms);
    if (delay_ms < 0 || delay_ms + duration_ms > window_ms || duration_ms > window_ms)
        return fail(NOBLE_ERR_UNSUPPORTED,
                    "a step from %g to %g ms does not fit NOBLE's window of %g ms (%u samples at %g ms): the "
                    "operator maps one window, open-loop; longer stimuli or later onsets cannot be represented",
                    delay_ms, delay_ms + duration_ms, window_ms, w->length, w->dt_ms);
    nm_window asked = *w;
    asked.stim_start_ms = delay_ms;
    asked.stim_end_ms = delay_ms + duration_ms;
    uint32_t a0, b0, a1, b1;
    nm_window_step_samples(w, &a0, &b0);
    nm_window_step_samples(&asked, &a1, &b1);
    if (a0 != a1 || b0 != b1)
        return fail(NOBLE_ERR_UNSUPPORTED,
                    "a step from %g to %g ms: this checkpoint was trained on steps from %g to %g ms of its window "
                    "(%g ms long) only, and NOBLE cannot place a step elsewhere or make it longer or shorter",
                    delay_ms, delay_ms + duration_ms, w->stim_start_ms, w->stim_end_ms, dur);
    const uint32_t n_out = out_samples(m, dt_ms);
    if (!n_out)
        return isfinite(dt_ms) && dt_ms > 0 ? NOBLE_ERR_UNSUPPORTED : NOBLE_ERR_ARGUMENT;
    for (uint32_t i = 0; i < n; i++) {
        const noble_cell *c = &cells[i];
        if (!isfinite(c->amplitude_pA))
            return fail(NOBLE_ERR_ARGUMENT, "cell %u: amplitude %g pA: expected a finite number", i, c->amplitude_pA);
        if (c->hof_model >= 0) {
            if ((uint32_t)c->hof_model >= m->hof)
                return fail(NOBLE_ERR_ARGUMENT, "cell %u: HoF model %d: the checkpoint records %u", i,
                            (int)c->hof_model, m->hof);
        } else if (c->hof_model != -1) {
            return fail(NOBLE_ERR_ARGUMENT, "cell %u: hof_model %d: expected an index or -1", i, (int)c->hof_model);
        } else if (!isfinite(c->I_thr_pA) || !isfinite(c->s_thr)) {
            return fail(NOBLE_ERR_ARGUMENT, "cell %u: (I_thr, s_thr) = (%g pA, %g Hz/pA): expected finite numbers",
                        i, c->I_thr_pA, c->s_thr);
        }
    }
    const uint32_t len = w->length;
    const double threshold = nm_feature_opts_default().threshold;
    for (uint32_t at = 0; at < n; at += EMBED_BATCH) {
        const uint32_t b = n - at < EMBED_BATCH ? n - at : EMBED_BATCH;
        for (uint32_t i = 0; i < b; i++) {
            const noble_cell *c = &cells[at + i];
            nm_window_step(w, c->amplitude_pA, m->current + (size_t)i * len);
            double I = c->hof_model >= 0 ? m->points[2 * c->hof_model] : c->I_thr_pA;
            double sl = c->hof_model >= 0 ? m->points[2 * c->hof_model + 1] : c->s_thr;
            m->codes[3 * i] = (float)c->amplitude_pA;
            m->codes[3 * i + 1] = (float)I;
            m->codes[3 * i + 2] = (float)sl;
        }
        nb_status s = nm_model_predict(m->model, m->current, m->codes, b, m->volt);
        if (s)
            return from_nb(s);
        for (uint32_t i = 0; i < b; i++) {
            const float *v = m->volt + (size_t)i * len;
            resample(v, len, w->dt_ms, dt_ms, n_out, voltage + (size_t)(at + i) * n_out);
            for (uint32_t k = 0; k < len; k++)
                m->trace[k] = v[k];
            size_t count = 0;
            s = nm_spike_times(m->trace, len, w->dt_ms, threshold,
                               spike_cap ? spike_times + (size_t)(at + i) * spike_cap : NULL, spike_cap, &count);
            if (s)
                return from_nb(s);
            if (spike_counts)
                spike_counts[at + i] = (uint32_t)count;
        }
    }
    return NOBLE_OK;
}
