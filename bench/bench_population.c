/* bench_population.c - `noble bench population`: how many synthetic neurons
 * a trained checkpoint simulates per second (nm_model_predict on step
 * currents and codes drawn from the dataset's training models), and how that
 * compares with NEURON's wall time per trace recorded in the dataset. */
#include "nb_bench.h"
#include "nm_models.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef NOBLE_SOURCE_DIR
#define NOBLE_SOURCE_DIR "."
#endif

/* The defaults below are relative to the source tree: the one compiled in,
 * or NOBLE_SOURCE_DIR from the environment where the tree moved (a relocated
 * test bundle on a lent GPU machine, bench/gpu-bundle.sh). */
static const char *source_dir(void)
{
    const char *d = getenv("NOBLE_SOURCE_DIR");
    return d && *d ? d : NOBLE_SOURCE_DIR;
}

#define DEFAULT_CHECKPOINT "models/pretrained/pvalb-noble.h5"
#define DEFAULT_DATASET "data/pvalb60.h5"

/* The protocol step every synthetic neuron gets: one of the dataset's
 * Long Square amplitudes, above the threshold of every PVALB model. */
#define STEP_PA 150.0

/* The dataset's geometry when there is none (docs/dataset.md): 0.06 ms per
 * sample, the step from 45 to 445 ms, the window from 15 ms before it. */
#define SOURCE_DT_MS 0.06
#define SOURCE_WINDOW_SAMPLES 8580.0
#define STIM_START_MS 45.0
#define STIM_END_MS 445.0
#define WINDOW_STEP_START_MS 15.0
#define DEFAULT_I_THR 50.0
#define DEFAULT_S_THR 0.85

/* The integer value of "key" inside the object "object" of a JSON text
 * (the training script's state); 0 when absent. */
static long json_int_in(const char *json, const char *object, const char *key)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\"", object);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p || !(p = strchr(p + strlen(pat), '{')))
        return 0;
    const char *end = p; /* the matching brace */
    for (int depth = 0; *end; end++) {
        depth += *end == '{';
        depth -= *end == '}';
        if (depth == 0)
            break;
    }
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *k = strstr(p, pat);
    if (!k || k > end || !(k = strchr(k + strlen(pat), ':')))
        return 0;
    char *e;
    long v = strtol(k + 1, &e, 10);
    return e == k + 1 ? 0 : v;
}

static int parse_batches(const char *list, uint32_t *b, uint32_t *n)
{
    *n = 0;
    for (const char *p = list; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v <= 0 || v > 65536 || *n == NBB_POPULATION_MAX_BATCHES || (*end && *end != ','))
            return 0;
        b[(*n)++] = (uint32_t)v;
        p = *end == ',' ? end + 1 : end;
    }
    return *n > 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median and mean of NEURON's wall time per trace over the finite, positive
 * entries; how many there were. */
static uint32_t neuron_times(const nm_dataset *d, double *median, double *mean)
{
    double *v = malloc((d->n_traces ? d->n_traces : 1) * sizeof *v);
    uint32_t n = 0;
    double sum = 0;
    for (uint32_t i = 0; v && i < d->n_traces; i++)
        if (isfinite(d->neuron_wall_s[i]) && d->neuron_wall_s[i] > 0) {
            v[n++] = d->neuron_wall_s[i];
            sum += d->neuron_wall_s[i];
        }
    if (n) {
        qsort(v, n, sizeof *v, cmp_double);
        *median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
        *mean = sum / n;
    }
    free(v);
    return n;
}

/* Builds the model, halving the batch while the device runs out of memory;
 * the warm-up call at that batch is part of the try. */
static nb_status build(nb_context *ctx, const nm_checkpoint *ck, uint32_t *batch, const float *cur, const float *codes,
                       float *volt, nm_model **out)
{
    for (;;) {
        nm_model *m = NULL;
        nb_status s = nm_model_create(ctx, &ck->config, *batch, 0, &m);
        if (!s && !(s = nm_model_set_params(m, ck->params)) && !(s = nm_model_set_embedding(m, &ck->embedding)))
            s = nm_model_predict(m, cur, codes, *batch, volt);
        if (!s) {
            *out = m;
            return NB_OK;
        }
        nm_model_destroy(m);
        nb_memory_trim(ctx);
        if (s != NB_ERR_OUT_OF_MEMORY || *batch == 1)
            return s;
        *batch /= 2;
    }
}

/* The batches on one backend: the model built once for the largest, each
 * batch timed, the speedup over NEURON at the best. */
static nb_status population_one(const nbb_target *t, const nbb_population_result *res, const nm_checkpoint *ck,
                                const uint32_t *batches, uint32_t nb, uint32_t maxb, const float *cur,
                                const float *codes, float *volt, double *times, const nbb_accuracy *acc,
                                nbb_population_backend *pb)
{
    nb_context *ctx = NULL;
    nm_model *m = NULL;
    memset(pb, 0, sizeof *pb);
    nb_status s = nb_context_create(&t->options, &ctx);
    if (s)
        return s;
    const nb_device_info *di = nb_context_device(ctx);
    snprintf(pb->backend, sizeof pb->backend, "%s", t->name);
    pb->is_default = t->is_default;
    snprintf(pb->device, sizeof pb->device, "%s", di->name);
    snprintf(pb->device_type, sizeof pb->device_type, "%s", nb_device_type_name(di->type));
    snprintf(pb->driver, sizeof pb->driver, "%.120s%s%.120s", di->driver_name, di->driver_name[0] ? " " : "",
             di->driver_info[0] ? di->driver_info : di->driver_version_str);
    snprintf(pb->api_version, sizeof pb->api_version, "%s", di->api_version_str);
    snprintf(pb->fft_backend, sizeof pb->fft_backend, "%s", nb_fft_backend_name(nb_context_fft_backend(ctx)));
    pb->threads = nb_context_backend(ctx) == NB_BACKEND_CPU ? di->threads : 0;
    /* the format-2 blocks */
    if (!(pb->extra = nbb_report_new("extra"))) {
        s = nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    nbb_report_identity(pb->extra, ctx);
    nbb_report *cond = nbb_report_conditions(pb->extra, ctx, res->rounds, 1);
    {
        double bv[NBB_POPULATION_MAX_BATCHES];
        for (uint32_t i = 0; i < nb; i++)
            bv[i] = batches[i];
        nbb_report_numbers(cond, "batches", bv, (int)nb, "asked; those above max_batch are measured at it");
    }
    nbb_report_num(cond, "length", ck->config.length, "samples", "the checkpoint's window");
    nbb_report_str(cond, "timing_throughput", "wall clock of each nm_model_predict call");
    nbb_report *tm = nbb_report_object(pb->extra, "timings");

    uint32_t built = maxb;
    if ((s = build(ctx, ck, &built, cur, codes, volt, &m)))
        goto done;
    pb->max_batch = built;
    if (built < maxb)
        snprintf(pb->note, sizeof pb->note,
                 "out of device memory at batch %u: halved to %u; larger batches are measured at %u", maxb, built,
                 built);
    for (uint32_t i = 0; i < nb; i++) {
        uint32_t b = batches[i] < built ? batches[i] : built;
        int seen = 0;
        for (uint32_t k = 0; k < pb->n_points; k++)
            seen |= pb->points[k].batch == b;
        if (seen)
            continue;
        if ((s = nm_model_predict(m, cur, codes, b, volt))) /* warm-up */
            goto done;
        for (int r = 0; r < res->rounds; r++) {
            double t0 = nbb_now_ms();
            if ((s = nm_model_predict(m, cur, codes, b, volt)))
                goto done;
            times[r] = nbb_now_ms() - t0;
        }
        char key[32];
        snprintf(key, sizeof key, "predict_b%u", b);
        nbb_report_samples(tm, key, times, res->rounds, "ms", "wall time of nm_model_predict, one batch");
        nbb_population_point *p = &pb->points[pb->n_points++];
        p->batch = b;
        p->ms_per_call = nbb_median(times, res->rounds);
        p->ms_per_trace = p->ms_per_call / b;
        p->traces_per_s = p->ms_per_call > 0 ? 1e3 * b / p->ms_per_call : NAN;
        p->device_mib = (double)nm_model_device_bytes(m) / 1048576.0;
        if (pb->n_points == 1 || p->traces_per_s > pb->points[pb->best].traces_per_s)
            pb->best = pb->n_points - 1;
    }
    if (res->has_neuron) {
        double noble_s = pb->points[pb->best].ms_per_trace * 1e-3;
        pb->speedup_median = res->neuron_median_s / noble_s;
        pb->speedup_mean = res->neuron_mean_s / noble_s;
    }
    s = nb_context_check(ctx);
done:
    nm_model_destroy(m);
    nb_context_destroy(ctx);
    if (!s && acc) /* after the context is gone: the accuracy line opens its own */
        s = nbb_accuracy_measure(acc, &t->options, pb->extra);
    return s;
}

nb_status nbb_population(const nbb_population_options *o, nbb_population_result *res)
{
    memset(res, 0, sizeof *res);
    uint32_t batches[NBB_POPULATION_MAX_BATCHES], nb;
    const char *list = o->batches ? o->batches : (o->quick ? "1,4" : "1,8,32,128");
    if (!parse_batches(list, batches, &nb))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "--batches: '%s' is not a list of batch sizes (1 to 65536, at most %d)",
                        list, NBB_POPULATION_MAX_BATCHES);
    res->rounds = o->rounds > 0 ? o->rounds : (o->quick ? 1 : 3);

    /* The checkpoint: it must carry the embedding noble train fits. */
    if (o->checkpoint)
        snprintf(res->checkpoint, sizeof res->checkpoint, "%s", o->checkpoint);
    else if (getenv("NOBLE_PRETRAINED") && *getenv("NOBLE_PRETRAINED")) /* as noble.pretrained */
        snprintf(res->checkpoint, sizeof res->checkpoint, "%s", getenv("NOBLE_PRETRAINED"));
    else
        snprintf(res->checkpoint, sizeof res->checkpoint, "%s/%s", source_dir(), DEFAULT_CHECKPOINT);
    if (access(res->checkpoint, R_OK) != 0) {
        if (o->checkpoint)
            return nb_error(NB_ERR_IO, "checkpoint %s does not exist or cannot be read", res->checkpoint);
        return nb_error(NB_ERR_IO,
                        "no checkpoint at %s (the default, " DEFAULT_CHECKPOINT
                        ", is not there): pass --checkpoint FILE, a checkpoint made by noble train",
                        res->checkpoint);
    }
    nm_checkpoint ck;
    nbb_accuracy *acc = NULL;
    nb_status s = nm_checkpoint_load(res->checkpoint, NULL, &ck);
    if (s)
        return s;
    if (!ck.has_embedding) {
        nm_checkpoint_free(&ck);
        return nb_error(NB_ERR_INVALID_ARGUMENT,
                        "%s has no embedding (it takes ready-made input channels, as from noble model init): "
                        "bench population needs a checkpoint trained on a dataset by noble train",
                        res->checkpoint);
    }
    const nm_config *c = &ck.config;
    const nm_embedding *e = &ck.embedding;
    res->parameters = nm_param_count(c);
    res->width = c->width;
    res->blocks = c->blocks;
    res->modes = c->modes;
    res->length = c->length;
    res->lifting_channels = c->lifting_channels;
    res->projection_channels = c->projection_channels;
    res->mlp_channels = c->mlp_channels;

    /* The dataset: optional unless named ("" : none). */
    nm_dataset *d = NULL;
    if (!o->dataset) {
        snprintf(res->dataset, sizeof res->dataset, "%s/%s", source_dir(), DEFAULT_DATASET);
        if (access(res->dataset, R_OK) != 0) {
            snprintf(res->note, sizeof res->note, "no dataset (the default, %.400s, is not there): no NEURON comparison",
                     res->dataset);
            res->dataset[0] = 0;
        }
    } else if (!o->dataset[0]) {
        snprintf(res->note, sizeof res->note, "no dataset (--dataset ''): no NEURON comparison");
    } else {
        snprintf(res->dataset, sizeof res->dataset, "%s", o->dataset);
    }
    if (res->dataset[0] && (s = nm_dataset_open(res->dataset, &d))) {
        nm_checkpoint_free(&ck);
        return s;
    }

    /* The window's geometry: the source dt from the dataset, the stride from
     * the training script's options, else from the window's length. */
    double dt = d ? d->dt_ms : SOURCE_DT_MS, stim0 = d ? d->stim_start_ms : STIM_START_MS,
           stim1 = d ? d->stim_end_ms : STIM_END_MS, lead = d ? d->window_step_start_ms : WINDOW_STEP_START_MS;
    long st = json_int_in(ck.state, "options", "stride");
    if (st > 0) {
        res->stride = (uint32_t)st;
        snprintf(res->stride_from, sizeof res->stride_from, "checkpoint (options.stride)");
    } else {
        double full = d ? d->window_ms / d->dt_ms : SOURCE_WINDOW_SAMPLES;
        res->stride = (uint32_t)fmax(1.0, round(full / c->length));
        snprintf(res->stride_from, sizeof res->stride_from, "%s / length, rounded",
                 d ? "dataset window" : "8580 samples");
    }
    res->dt_ms = dt * res->stride;
    res->window_ms = res->dt_ms * c->length;
    res->amplitude_pA = STEP_PA;
    /* Source samples of the step and of the window's first sample, as the
     * dataset's windows are cut (nm_dataset_window, no jitter). */
    const int64_t on0 = llround(stim0 / dt), on1 = llround(stim1 / dt);
    const int64_t w0 = d ? nm_dataset_window_start(d, 0.0) : llround((stim0 - lead) / dt);
    res->step_on_ms = stim0 - (double)w0 * dt;
    res->step_off_ms = stim1 - (double)w0 * dt;

    /* Code ranges: the training models' I_thr and s_thr. */
    res->I_thr_pA[0] = res->I_thr_pA[1] = DEFAULT_I_THR;
    res->s_thr_Hz_per_pA[0] = res->s_thr_Hz_per_pA[1] = DEFAULT_S_THR;
    snprintf(res->codes_from, sizeof res->codes_from, "fixed defaults (no dataset)");
    if (d) {
        uint32_t *ids = malloc((d->n_models ? d->n_models : 1) * sizeof *ids);
        uint32_t n = ids ? nm_dataset_select(d, NM_SPLIT_TRAIN, 1, ids, d->n_models) : 0;
        int all = n == 0;
        if (all)
            n = d->n_models;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k = all ? i : ids[i];
            double a = d->I_thr[k], b = d->s_thr[k];
            if (i == 0 || a < res->I_thr_pA[0]) res->I_thr_pA[0] = a;
            if (i == 0 || a > res->I_thr_pA[1]) res->I_thr_pA[1] = a;
            if (i == 0 || b < res->s_thr_Hz_per_pA[0]) res->s_thr_Hz_per_pA[0] = b;
            if (i == 0 || b > res->s_thr_Hz_per_pA[1]) res->s_thr_Hz_per_pA[1] = b;
        }
        free(ids);
        res->training_models = n;
        snprintf(res->codes_from, sizeof res->codes_from, "uniform over the range of %s models",
                 all ? "all the dataset's (it has no training split)" : "the dataset's training");
        res->neuron_traces = neuron_times(d, &res->neuron_median_s, &res->neuron_mean_s);
        res->has_neuron = res->neuron_traces > 0;
        res->neuron_trace_ms = (double)(d->n_samples - 1) * d->dt_ms;
        if (!res->has_neuron)
            snprintf(res->note, sizeof res->note, "the dataset records no NEURON wall times: no comparison");
        nm_dataset_close(d);
        d = NULL;
    }

    /* Synthetic neurons for the largest batch; smaller batches take the first. */
    uint32_t maxb = 0;
    for (uint32_t i = 0; i < nb; i++)
        maxb = batches[i] > maxb ? batches[i] : maxb;
    res->max_batch_asked = maxb;
    const uint64_t N = c->length;
    float *cur = malloc((uint64_t)maxb * N * sizeof *cur), *volt = malloc((uint64_t)maxb * N * sizeof *volt);
    float *codes = malloc((uint64_t)maxb * NM_MAX_CODES * sizeof *codes);
    double *times = malloc((size_t)res->rounds * sizeof *times);
    if (!cur || !volt || !codes || !times) {
        s = nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory for batch %u", maxb);
        goto done;
    }
    nm_rng rng;
    nm_rng_seed(&rng, 1);
    for (uint32_t b = 0; b < maxb; b++) {
        for (uint64_t k = 0; k < N; k++) {
            int64_t j = w0 + (int64_t)(k * res->stride);
            cur[b * N + k] = (float)(j >= on0 && j < on1 ? STEP_PA : 0.0);
        }
        float *cb = codes + (uint64_t)b * e->n_codes;
        for (uint32_t q = 0; q < e->n_codes; q++) {
            double lo = 0.5 * (e->min[q] + e->max[q]), hi = lo; /* a code of another name: mid-range */
            if (q == 0)
                lo = hi = STEP_PA;
            else if (strcmp(e->names[q], "I_thr") == 0)
                lo = res->I_thr_pA[0], hi = res->I_thr_pA[1];
            else if (strcmp(e->names[q], "s_thr") == 0)
                lo = res->s_thr_Hz_per_pA[0], hi = res->s_thr_Hz_per_pA[1];
            cb[q] = (float)(lo + (hi - lo) * nm_rng_uniform(&rng));
        }
    }

    nbb_target tg[NBB_MAX_TARGETS];
    uint32_t nt;
    if ((s = nbb_targets(o->backend, tg, NBB_MAX_TARGETS, &nt)))
        goto done;
    /* the accuracy line: the NOBLE preset at 8580 samples (520 with --quick), as in the other benches */
    if ((s = nbb_accuracy_prepare(o->quick ? 520 : 8580, &acc)))
        goto done;
    for (uint32_t t = 0; t < nt && !s; t++) {
        s = population_one(&tg[t], res, &ck, batches, nb, maxb, cur, codes, volt, times, acc, &res->backends[t]);
        res->n_backends = t + 1;
    }
done:
    nbb_accuracy_free(acc);
    nm_checkpoint_free(&ck);
    free(cur);
    free(volt);
    free(codes);
    free(times);
    return s;
}

/* The figures of one backend as members of the current object. */
static void json_points(nbb_json *j, const nbb_population_backend *pb, int has_neuron)
{
    nbb_json_int(j, "max_batch", pb->max_batch);
    nbb_json_array(j, "batches");
    for (uint32_t i = 0; i < pb->n_points; i++) {
        const nbb_population_point *p = &pb->points[i];
        nbb_json_object(j, NULL);
        nbb_json_int(j, "batch", p->batch);
        nbb_json_num(j, "traces_per_s", p->traces_per_s);
        nbb_json_num(j, "ms_per_trace", p->ms_per_trace);
        nbb_json_num(j, "ms_per_call", p->ms_per_call);
        nbb_json_num(j, "peak_device_mib", p->device_mib);
        nbb_json_end(j, '}');
    }
    nbb_json_end(j, ']');
    const nbb_population_point *b = &pb->points[pb->best];
    nbb_json_int(j, "best_batch", b->batch);
    nbb_json_num(j, "best_traces_per_s", b->traces_per_s);
    nbb_json_num(j, "best_ms_per_trace", b->ms_per_trace);
    if (has_neuron) {
        nbb_json_num(j, "speedup_vs_neuron_median", pb->speedup_median);
        nbb_json_num(j, "speedup_vs_neuron_mean", pb->speedup_mean);
    }
}

static void print_json(const nbb_population_result *r, FILE *f)
{
    const nbb_population_backend *d = &r->backends[0]; /* the default where measured: the top's figures */
    char note[800];
    snprintf(note, sizeof note, "%s%s%s", r->note, r->note[0] && d->note[0] ? "; " : "", d->note);
    nbb_json j;
    nbb_json_init(&j, f);
    nbb_json_object(&j, NULL);
    nbb_json_str(&j, "bench", "population");
    nbb_json_int(&j, "format_version", NBB_FORMAT_VERSION);
    nbb_report *head = nbb_report_new("head");
    nbb_report_header(head);
    nbb_json_report_rows(&j, head);
    nbb_report_free(head);
    nbb_json_str(&j, "backend", d->backend);
    nbb_json_str(&j, "device", d->device);
    nbb_json_str(&j, "device_type", d->device_type);
    nbb_json_str(&j, "driver", d->driver);
    nbb_json_str(&j, "vulkan", d->api_version);
    nbb_json_str(&j, "checkpoint", r->checkpoint);
    nbb_json_str(&j, "dataset", r->dataset);
    nbb_json_object(&j, "config");
    nbb_json_int(&j, "parameters", (long long)r->parameters);
    nbb_json_int(&j, "width", r->width);
    nbb_json_int(&j, "blocks", r->blocks);
    nbb_json_int(&j, "modes", r->modes);
    nbb_json_int(&j, "length", r->length);
    nbb_json_int(&j, "lifting_channels", r->lifting_channels);
    nbb_json_int(&j, "projection_channels", r->projection_channels);
    nbb_json_int(&j, "mlp_channels", r->mlp_channels);
    nbb_json_end(&j, '}');
    nbb_json_object(&j, "window");
    nbb_json_int(&j, "samples", r->length);
    nbb_json_int(&j, "stride", r->stride);
    nbb_json_str(&j, "stride_from", r->stride_from);
    nbb_json_num(&j, "dt_ms", r->dt_ms);
    nbb_json_num(&j, "window_ms", r->window_ms);
    nbb_json_num(&j, "step_on_ms", r->step_on_ms);
    nbb_json_num(&j, "step_off_ms", r->step_off_ms);
    nbb_json_num(&j, "amplitude_pA", r->amplitude_pA);
    nbb_json_end(&j, '}');
    nbb_json_object(&j, "codes");
    nbb_json_str(&j, "drawn", r->codes_from);
    nbb_json_int(&j, "models", r->training_models);
    nbb_json_array(&j, "I_thr_pA");
    nbb_json_num(&j, NULL, r->I_thr_pA[0]);
    nbb_json_num(&j, NULL, r->I_thr_pA[1]);
    nbb_json_end(&j, ']');
    nbb_json_array(&j, "s_thr_Hz_per_pA");
    nbb_json_num(&j, NULL, r->s_thr_Hz_per_pA[0]);
    nbb_json_num(&j, NULL, r->s_thr_Hz_per_pA[1]);
    nbb_json_end(&j, ']');
    nbb_json_end(&j, '}');
    nbb_json_int(&j, "rounds", r->rounds);
    nbb_json_int(&j, "warmup_calls", 1);
    nbb_json_int(&j, "max_batch_asked", r->max_batch_asked);
    json_points(&j, d, r->has_neuron);
    if (r->has_neuron) {
        nbb_json_object(&j, "neuron");
        nbb_json_int(&j, "traces", r->neuron_traces);
        nbb_json_num(&j, "median_s_per_trace", r->neuron_median_s);
        nbb_json_num(&j, "mean_s_per_trace", r->neuron_mean_s);
        nbb_json_num(&j, "trace_ms", r->neuron_trace_ms);
        nbb_json_str(&j, "what", "NEURON's wall time per trace (init, settling and the whole trace), one process per "
                                 "trace, recorded by noble datagen on the machine that made the dataset");
        nbb_json_end(&j, '}');
    }
    nbb_json_str(&j, "note", note);
    nbb_json_array(&j, "backends");
    for (uint32_t k = 0; k < r->n_backends; k++) {
        const nbb_population_backend *pb = &r->backends[k];
        nbb_json_object(&j, NULL);
        nbb_json_str(&j, "backend", pb->backend);
        nbb_json_bool(&j, "default_backend", pb->is_default);
        nbb_json_str(&j, "device", pb->device);
        nbb_json_str(&j, "device_type", pb->device_type);
        nbb_json_str(&j, "driver", pb->driver);
        nbb_json_str(&j, "vulkan", pb->api_version);
        nbb_json_str(&j, "fft_backend", pb->fft_backend);
        if (pb->threads)
            nbb_json_int(&j, "threads", pb->threads);
        json_points(&j, pb, r->has_neuron);
        nbb_json_str(&j, "note", pb->note);
        nbb_json_report_rows(&j, pb->extra);
        nbb_json_end(&j, '}');
    }
    nbb_json_end(&j, ']');
    nbb_json_end(&j, '}');
}

void nbb_population_print(const nbb_population_result *r, FILE *f, int json)
{
    if (json) {
        print_json(r, f);
        return;
    }
    fprintf(f, "noble bench population\n");
    fprintf(f, "  checkpoint  %s\n", r->checkpoint);
    fprintf(f, "  model       %llu parameters, width %u, blocks %u, modes %u, length %u\n",
            (unsigned long long)r->parameters, r->width, r->blocks, r->modes, r->length);
    fprintf(f, "  dataset     %s\n", r->dataset[0] ? r->dataset : "none");
    fprintf(f, "  window      %u samples at %.4g ms (stride %u, from %s): %.1f ms; step of %.0f pA from %.1f to %.1f ms\n",
            r->length, r->dt_ms, r->stride, r->stride_from, r->window_ms, r->amplitude_pA, r->step_on_ms,
            r->step_off_ms);
    fprintf(f, "  neurons     I_thr %.4g to %.4g pA, s_thr %.4g to %.4g Hz/pA: %s\n", r->I_thr_pA[0], r->I_thr_pA[1],
            r->s_thr_Hz_per_pA[0], r->s_thr_Hz_per_pA[1], r->codes_from);
    fprintf(f, "  timing      median of %d round(s) after one warm-up call\n", r->rounds);
    if (r->has_neuron)
        fprintf(f, "  NEURON      median %.4g s, mean %.4g s per %.0f-ms trace over %u traces (wall time recorded\n"
                   "              when the dataset was made, on that machine, one process per trace)\n",
                r->neuron_median_s, r->neuron_mean_s, r->neuron_trace_ms, r->neuron_traces);
    for (uint32_t k = 0; k < r->n_backends; k++) {
        const nbb_population_backend *pb = &r->backends[k];
        fprintf(f, "\n  backend %s%s: %s (%s; %s%s%s)\n", pb->backend, pb->is_default ? " (default)" : "", pb->device,
                pb->device_type, pb->driver, strcmp(pb->api_version, "-") ? "; Vulkan " : "",
                strcmp(pb->api_version, "-") ? pb->api_version : "");
        fprintf(f, "  model built for batch %u; FFT: %s\n", pb->max_batch, pb->fft_backend);
        fprintf(f, "  %8s %14s %14s %14s %16s\n", "batch", "traces/s", "ms/trace", "ms/call",
                pb->threads ? "memory MiB" : "device MiB");
        for (uint32_t i = 0; i < pb->n_points; i++) {
            const nbb_population_point *p = &pb->points[i];
            fprintf(f, "  %8u %14.4g %14.4g %14.4g %16.1f%s\n", p->batch, p->traces_per_s, p->ms_per_trace,
                    p->ms_per_call, p->device_mib, i == pb->best ? "  best" : "");
        }
        if (r->has_neuron)
            fprintf(f, "  speedup     %.4gx against NEURON's median, %.4gx against its mean (batch %u)\n",
                    pb->speedup_median, pb->speedup_mean, pb->points[pb->best].batch);
        if (pb->note[0])
            fprintf(f, "  note        %s\n", pb->note);
    }
    if (r->note[0])
        fprintf(f, "\n  note        %s\n", r->note);
}

void nbb_population_clear(nbb_population_result *res)
{
    for (uint32_t k = 0; k < NBB_MAX_TARGETS; k++) {
        nbb_report_free(res->backends[k].extra);
        res->backends[k].extra = NULL;
    }
}
