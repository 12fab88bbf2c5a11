/* window.c - the window a checkpoint was trained on, and the step current in
 * it: the one place the operator's input current is built from an amplitude
 * (the Lua module's noble.step_current, hence `noble population`, and the
 * embedding ABI, plugins/embed/noble_embed.h, both call nm_window_step).
 *
 * The window and the training models' points live in the checkpoint's
 * training-script state, JSON text written by scripting/lib/noble/json.lua
 * (docs/checkpoint.md, /train/script_state): "geometry" and "train_points".
 * This file reads just those with a small JSON scanner; numbers are read by
 * strtod in the "C" locale, so they are the same doubles Lua's tonumber gives. */
#include "nm_models.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ scanner */

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Past a string starting at p ('"'), or NULL when unterminated. */
static const char *skip_string(const char *p)
{
    for (p++; *p; p++) {
        if (*p == '\\') {
            if (!p[1])
                return NULL;
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* Past one value starting at p (after white space), or NULL. depth bounds
 * the nesting, so hostile text cannot exhaust the stack. */
static const char *skip_value(const char *p, int depth)
{
    p = ws(p);
    if (depth > 64)
        return NULL;
    if (*p == '"')
        return skip_string(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                if (*p != '"' || !(p = skip_string(p)))
                    return NULL;
                p = ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            if (!(p = skip_value(p, depth + 1)))
                return NULL;
            p = ws(p);
            if (*p == ',') {
                p = ws(p + 1);
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    const char *q = p;
    while (*q && (strchr("+-.eE", *q) || (*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z')))
        q++;
    return q > p ? q : NULL;
}

/* The value of key in the object at p ('{'), or NULL when absent. */
static const char *find_key(const char *p, const char *key)
{
    p = ws(p);
    if (*p != '{')
        return NULL;
    p = ws(p + 1);
    size_t n = strlen(key);
    while (*p == '"') {
        const char *k = p + 1, *e = skip_string(p);
        if (!e)
            return NULL;
        p = ws(e);
        if (*p++ != ':')
            return NULL;
        p = ws(p);
        if ((size_t)(e - 1 - k) == n && !memcmp(k, key, n))
            return p;
        if (!(p = skip_value(p, 1)))
            return NULL;
        p = ws(p);
        if (*p != ',')
            return NULL;
        p = ws(p + 1);
    }
    return NULL;
}

/* A number at p, read in the "C" locale whatever the process's is. */
static int read_number(const char *p, double *v, const char **end)
{
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c)
        return 0;
    locale_t old = uselocale(c);
    char *e;
    *v = strtod(ws(p), &e);
    uselocale(old);
    freelocale(c);
    if (e == ws(p))
        return 0;
    if (end)
        *end = e;
    return 1;
}

static int key_number(const char *obj, const char *key, double *v)
{
    const char *p = find_key(obj, key);
    return p && read_number(p, v, NULL);
}

static int key_string(const char *obj, const char *key, char *out, size_t cap)
{
    const char *p = find_key(obj, key);
    if (!p || *p != '"')
        return 0;
    const char *e = skip_string(p);
    if (!e)
        return 0;
    size_t n = (size_t)(e - p - 2);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p + 1, n);
    out[n] = 0;
    return 1;
}

/* ------------------------------------------------------------- window */

nb_status nm_checkpoint_window(const nm_checkpoint *ck, nm_window *w)
{
    if (!ck || !w)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_checkpoint_window: NULL argument");
    memset(w, 0, sizeof *w);
    const char *g = ck->state ? find_key(ck->state, "geometry") : NULL;
    if (!g)
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "the checkpoint does not record the window it was trained on (no geometry in "
                        "/train/script_state: it was not written by noble train or noble model export)");
    double length = 0, stride = 1;
    if (!key_number(g, "dt_ms", &w->dt_ms) || !key_number(g, "stim_start_ms", &w->stim_start_ms) ||
        !key_number(g, "stim_end_ms", &w->stim_end_ms) || !key_number(g, "length", &length))
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "the checkpoint's window (/train/script_state geometry) lacks dt_ms, stim_start_ms, "
                        "stim_end_ms or length");
    key_number(g, "stride", &stride);
    key_number(g, "window_start_ms", &w->window_start_ms);
    key_number(g, "source_dt_ms", &w->source_dt_ms);
    key_string(g, "cell", w->cell, sizeof w->cell);
    const char *opt = find_key(ck->state, "options");
    if (opt)
        key_string(opt, "dataset", w->dataset, sizeof w->dataset);
    w->stride = stride >= 1 && stride < 1e9 ? (uint32_t)stride : 1;
    w->length = length >= 1 && length < 4e9 ? (uint32_t)length : 0;
    if (!(w->dt_ms > 0) || !isfinite(w->dt_ms) || !w->length || !isfinite(w->stim_start_ms) ||
        !isfinite(w->stim_end_ms) || w->stim_start_ms < 0 || w->stim_end_ms <= w->stim_start_ms ||
        w->stim_end_ms > w->length * w->dt_ms)
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "the checkpoint's window is inconsistent: dt %g ms, %u samples, step %g to %g ms",
                        w->dt_ms, w->length, w->stim_start_ms, w->stim_end_ms);
    if (w->length != ck->config.length)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the checkpoint's window has %u samples, its model %u", w->length,
                        ck->config.length);
    return NB_OK;
}

nb_status nm_checkpoint_train_points(const nm_checkpoint *ck, double *points, uint32_t cap, uint32_t *count)
{
    if (!ck || !count || (cap && !points))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_checkpoint_train_points: NULL argument");
    *count = 0;
    const char *p = ck->state ? find_key(ck->state, "train_points") : NULL;
    if (!p)
        return NB_OK;
    if (*p != '[')
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the checkpoint's train_points is not a list");
    p = ws(p + 1);
    uint32_t n = 0;
    while (*p == '[') {
        double v[2];
        const char *e;
        if (!read_number(p + 1, &v[0], &e) || *(e = ws(e)) != ',' || !read_number(e + 1, &v[1], &e) ||
            *(e = ws(e)) != ']' || !isfinite(v[0]) || !isfinite(v[1]))
            return nb_error(NB_ERR_INVALID_ARGUMENT,
                            "the checkpoint's train_points[%u] is not a pair [I_thr, s_thr] of numbers", n);
        if (n < cap) {
            points[2 * n] = v[0];
            points[2 * n + 1] = v[1];
        }
        n++;
        p = ws(e + 1);
        if (*p == ',')
            p = ws(p + 1);
    }
    if (*p != ']')
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the checkpoint's train_points is not a list of pairs");
    *count = n;
    return NB_OK;
}

void nm_window_step_samples(const nm_window *w, uint32_t *first, uint32_t *end)
{
    double a = floor(w->stim_start_ms / w->dt_ms + 0.5), b = floor(w->stim_end_ms / w->dt_ms + 0.5);
    *first = a < 0 ? 0 : a > w->length ? w->length : (uint32_t)a;
    *end = b < *first ? *first : b > w->length ? w->length : (uint32_t)b;
}

nb_status nm_window_step(const nm_window *w, double amplitude_pA, float *current)
{
    if (!w || !current)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_window_step: NULL argument");
    if (!isfinite(amplitude_pA))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the step's amplitude is %g pA: expected a finite number",
                        amplitude_pA);
    if (!(w->dt_ms > 0) || !isfinite(w->stim_start_ms) || !isfinite(w->stim_end_ms))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_window_step: the window has no dt or step times");
    uint32_t a, b;
    nm_window_step_samples(w, &a, &b);
    const float amp = (float)amplitude_pA;
    for (uint32_t i = 0; i < w->length; i++)
        current[i] = i >= a && i < b ? amp : 0.0f;
    return NB_OK;
}
