/* bench_operator.c - `noble bench operator`: the NOBLE operator's forward and
 * training throughput over a batch sweep, peak device memory, a per-op table
 * against the device's own measured ceilings, and the same architecture in
 * PyTorch (bench/reference/torch_bench.py) timed in the same run. */
#include "nb_bench.h"
#include "nm_models.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef NOBLE_SOURCE_DIR
#define NOBLE_SOURCE_DIR "."
#endif


/* "spectral r2c" -> "spectral_r2c" */
static void key_of(const char *label, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; label[i] && j + 1 < cap; i++) {
        char ch = label[i];
        if (isalnum((unsigned char)ch))
            out[j++] = (char)tolower((unsigned char)ch);
        else if (j > 0 && out[j - 1] != '_')
            out[j++] = '_';
    }
    while (j > 0 && out[j - 1] == '_')
        j--;
    out[j] = 0;
}

typedef struct point {
    uint32_t batch;
    double fwd_ms, train_ms, peak_mib;
} point;

/* One batch size on a fresh context, so the peak memory is the model's. */
static nb_status measure(const nbb_target *tg, const nm_config *c, uint32_t batch, int rounds, const float *params,
                         point *pt, nbb_report *table, const nbb_ceilings *cl, nbb_report *tm, nbb_report *out)
{
    nb_context *ctx = NULL;
    nm_model *m = NULL;
    float *x = NULL, *y = NULL, *t = NULL;
    nb_status s = nb_context_create(&tg->options, &ctx);
    if (s)
        return s;
    const uint64_t nx = (uint64_t)batch * c->in_channels * c->length, ny = (uint64_t)batch * c->out_channels * c->length;
    x = malloc(nx * 4);
    y = malloc(ny * 4);
    t = malloc(ny * 4);
    if (!x || !y || !t) {
        s = nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    nm_rng r;
    nm_rng_seed(&r, batch);
    for (uint64_t i = 0; i < nx; i++) /* NOBLE-like input: a current step and smooth channels */
        x[i] = (float)(((i % c->length) > c->length / 8 ? 1.0 : 0.0) + 0.1 * nm_rng_normal(&r));
    for (uint64_t i = 0; i < ny; i++)
        t[i] = (float)(-65.0 + 10.0 * sin(0.01 * (double)(i % c->length)));
    if ((s = nm_model_create(ctx, c, batch, 1, &m)) || (s = nm_model_set_params(m, params)))
        goto done;
    double tf[64], tt[64];
    if ((s = nm_model_forward(m, x, batch, y))) /* warm-up: plans, first touch */
        goto done;
    for (int i = 0; i < rounds; i++) {
        double a = nbb_now_ms();
        if ((s = nm_model_forward(m, x, batch, y)))
            goto done;
        tf[i] = nbb_now_ms() - a;
    }
    nm_adamw opt;
    nm_adamw_default(&opt);
    opt.lr = 1e-6; /* keep the parameters where they are over the rounds */
    double loss;
    if ((s = nm_model_train_step(m, x, t, batch, 4, &opt, 1, &loss)))
        goto done;
    for (int i = 0; i < rounds; i++) {
        double a = nbb_now_ms();
        if ((s = nm_model_train_step(m, x, t, batch, 4, &opt, (uint64_t)i + 2, &loss)))
            goto done;
        tt[i] = nbb_now_ms() - a;
    }
    {
        char key[64];
        snprintf(key, sizeof key, "forward_b%u", batch);
        nbb_report_samples(tm, key, tf, rounds, "ms", "wall time of nm_model_forward, one batch");
        snprintf(key, sizeof key, "train_b%u", batch);
        nbb_report_samples(tm, key, tt, rounds, "ms", "wall time of nm_model_train_step, one batch");
    }
    pt->batch = batch;
    pt->fwd_ms = nbb_median(tf, rounds);
    pt->train_ms = nbb_median(tt, rounds);
    nb_memory_stats ms;
    nb_memory_stats_get(ctx, &ms);
    pt->peak_mib = (double)ms.peak_used_bytes / 1048576.0;
    if (table) { /* the per-op table of the last training step */
        const nm_op_stat *st;
        uint32_t n;
        nm_model_op_stats(m, &st, &n);
        double total = 0, fft = 0;
        for (uint32_t i = 0; i < n; i++) {
            total += st[i].ms;
            if (strstr(st[i].label, "r2c") || strstr(st[i].label, "c2r"))
                fft += st[i].ms;
        }
        const int cpu = tg->backend == NB_BACKEND_CPU;
        nbb_report_num(table, "op_total_gpu_ms", total, "ms",
                       cpu ? "one training step, sum over ops (wall time of each op on the host)"
                           : "one training step, sum over ops (GPU timestamps)");
        nbb_report_num(table, "op_fft_share", total > 0 ? fft / total : NAN, "",
                       cpu ? "fraction of the ops' time in FFTs" : "fraction of GPU time in FFTs");
        nbb_report *ops = nbb_report_object(out, "ops");
        char what[96];
        snprintf(what, sizeof what, "one training step at batch %u; ceilings measured in this run", batch);
        nbb_report_str(ops, "what", what);
        for (uint32_t i = 0; i < n; i++) {
            char k[64], key[128], note[200];
            key_of(st[i].label, k, sizeof k);
            double sec = st[i].ms * 1e-3, gbps = sec > 0 ? st[i].bytes / sec / 1e9 : NAN,
                   gflops = sec > 0 ? st[i].flops / sec / 1e9 : NAN;
            double be = gbps / cl->copy_shader_gbps, fe = gflops / cl->fma_gflops;
            snprintf(note, sizeof note, "%ux, %.1f%% of %s time, %.2f GB/s, %.2f GFLOP/s", st[i].count,
                     total > 0 ? 100.0 * st[i].ms / total : 0.0, cpu ? "the ops'" : "GPU", gbps, gflops);
            snprintf(key, sizeof key, "op_%s_ms", k);
            nbb_report_num(table, key, st[i].ms, "ms", note);
            snprintf(key, sizeof key, "op_%s_bandwidth_efficiency", k);
            nbb_report_num(table, key, be, "", cpu ? "of the cores' copy ceiling" : "of the shader copy ceiling");
            snprintf(key, sizeof key, "op_%s_flop_efficiency", k);
            nbb_report_num(table, key, fe, "", "of the FMA ceiling");
            snprintf(key, sizeof key, "op_%s_efficiency", k);
            nbb_report_num(table, key, be > fe ? be : fe, "", "the larger: the ceiling that binds");
            nbb_report *op = nbb_report_object(ops, k);
            nbb_report_str(op, "label", st[i].label);
            nbb_report_num(op, "count", st[i].count, "", "dispatches or calls in the step");
            nbb_report_num(op, "ms", st[i].ms, "ms", NULL);
            nbb_report_num(op, "time_share", total > 0 ? st[i].ms / total : NAN, "", NULL);
            nbb_report_num(op, "bytes", st[i].bytes, "bytes", "read + written, each tensor once");
            nbb_report_num(op, "flops", st[i].flops, "FLOP", NULL);
            nbb_report_num(op, "gbps", gbps, "GB/s", NULL);
            nbb_report_num(op, "gflops", gflops, "GFLOP/s", NULL);
            nbb_report_num(op, "bandwidth_ceiling_share", be, "", "gbps / ceiling_copy_shader_gbps");
            nbb_report_num(op, "flop_ceiling_share", fe, "", "gflops / ceiling_fma_fp32_gflops");
            nbb_report_str(op, "bound", be >= fe ? "bandwidth" : "flops");
        }
    }
done:
    nm_model_destroy(m);
    if (!s)
        s = nb_context_check(ctx);
    nb_context_destroy(ctx);
    free(x);
    free(y);
    free(t);
    return s;
}

/* Reads "key": number from a JSON text, inside the object "within" when it
 * is not NULL (the first such key after it); NAN when absent. */
static double json_number(const char *json, const char *within, const char *key)
{
    char pat[96];
    if (within) {
        snprintf(pat, sizeof pat, "\"%s\"", within);
        json = strstr(json, pat);
        if (!json)
            return NAN;
    }
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return NAN;
    p = strchr(p + strlen(pat), ':');
    if (!p)
        return NAN;
    char *end;
    double v = strtod(p + 1, &end);
    return end == p + 1 ? NAN : v;
}

/* PyTorch on the same machine, same threads, its best configuration
 * (torch_bench.py sets glibc's malloc thresholds, PLATFORM.md). */
static int run_torch(const nm_config *c, const char *batches, int rounds, int threads, char **json_out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/bench/reference/torch_bench.py --preset noble --length %u --batches %s --threads %d "
             "--rounds %d --train --json",
             NOBLE_SOURCE_DIR, c->length, batches, threads, rounds);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                break;
            buf = nb;
        }
    }
    int rc = pclose(p);
    if (!buf)
        return -1;
    buf[n] = 0;
    *json_out = buf;
    return rc;
}

/* The sweep on one backend: its ceilings, throughput per batch, the per-op
 * table at the last batch. *fwd, *train: the best traces/s. */
static nb_status operator_one(const nbb_target *t, const nm_config *c, const uint32_t *batches, uint32_t nb,
                              int rounds, int quick, const float *params, const nbb_accuracy *acc, nbb_report *r,
                              double *fwd, double *train)
{
    nb_context *ctx;
    nb_status s = nb_context_create(&t->options, &ctx);
    if (s)
        return s;
    nbb_report_backend(r, t, ctx);
    nbb_report *cond = nbb_report_conditions(r, ctx, rounds, 1);
    {
        double bv[16];
        for (uint32_t i = 0; i < nb; i++)
            bv[i] = batches[i];
        nbb_report_numbers(cond, "batches", bv, (int)nb, "the sweep; the per-op table is at the last");
    }
    nbb_report_num(cond, "length", c->length, "samples", "per trace");
    nbb_report_num(cond, "quick", quick, "", "1: --quick");
    nbb_report_num(cond, "ceiling_rounds", quick ? 2 : 5, "", "rounds of each ceiling");
    nbb_report_str(cond, "timing_throughput", "wall clock of each nm_model_forward / nm_model_train_step call");
    nbb_report_str(cond, "timing_ops", t->backend == NB_BACKEND_CPU ? "wall clock of each op on the host"
                   : nb_context_device(ctx)->timestamps ? "device timestamps per op (host FFTs: host wall clock)"
                                                        : "wall clock");
    nbb_report *tm = nbb_report_object(r, "timings");
    nbb_ceilings cl;
    s = nbb_measure_ceilings(ctx, quick, quick ? 2 : 5, &cl);
    char copy_what[200], fma_what[200];
    snprintf(copy_what, sizeof copy_what, "measured now, as in bench runtime: %s", nbb_ceiling_copy_what(ctx));
    snprintf(fma_what, sizeof fma_what, "measured now, as in bench runtime: %s", nbb_ceiling_fma_what(ctx));
    nb_context_destroy(ctx);
    if (s)
        return s;
    nbb_report_num(r, "ceiling_copy_shader_gbps", cl.copy_shader_gbps, "GB/s", copy_what);
    nbb_report_num(r, "ceiling_fma_fp32_gflops", cl.fma_gflops, "GFLOP/s", fma_what);

    point best_f = {0}, best_t = {0}, main_pt = {0};
    nbb_report *table = nbb_report_new("ops");
    if (!table)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    const char *mem_what = t->backend == NB_BACKEND_CPU ? "training, buffers of the runtime (host memory)"
                                                        : "training, buffers of the runtime";
    for (uint32_t i = 0; i < nb; i++) {
        point pt = {0};
        int last = i + 1 == nb;
        if ((s = measure(t, c, batches[i], rounds, params, &pt, last ? table : NULL, &cl, tm, r)))
            break;
        char key[64], note[96];
        snprintf(key, sizeof key, "forward_b%u_traces_per_s", pt.batch);
        snprintf(note, sizeof note, "%.1f ms per batch", pt.fwd_ms);
        nbb_report_num(r, key, pt.batch / (pt.fwd_ms * 1e-3), "traces/s", note);
        snprintf(key, sizeof key, "train_b%u_traces_per_s", pt.batch);
        snprintf(note, sizeof note, "%.1f ms per AdamW step", pt.train_ms);
        nbb_report_num(r, key, pt.batch / (pt.train_ms * 1e-3), "traces/s", note);
        snprintf(key, sizeof key, "peak_device_b%u_mib", pt.batch);
        nbb_report_num(r, key, pt.peak_mib, "MiB", mem_what);
        if (!best_f.batch || pt.batch / pt.fwd_ms > best_f.batch / best_f.fwd_ms)
            best_f = pt;
        if (!best_t.batch || pt.batch / pt.train_ms > best_t.batch / best_t.train_ms)
            best_t = pt;
        if (last)
            main_pt = pt;
    }
    if (s) {
        nbb_report_free(table);
        return s;
    }
    nbb_report_num(r, "batch", main_pt.batch, "", "the figures below are at this batch");
    nbb_report_num(r, "forward_traces_per_s", main_pt.batch / (main_pt.fwd_ms * 1e-3), "traces/s", NULL);
    nbb_report_num(r, "train_traces_per_s", main_pt.batch / (main_pt.train_ms * 1e-3), "traces/s", NULL);
    nbb_report_num(r, "peak_device_mib", main_pt.peak_mib, "MiB", NULL);
    nbb_report_num(r, "best_forward_batch", best_f.batch, "", NULL);
    nbb_report_num(r, "best_forward_traces_per_s", best_f.batch / (best_f.fwd_ms * 1e-3), "traces/s", NULL);
    nbb_report_num(r, "best_train_batch", best_t.batch, "", NULL);
    nbb_report_num(r, "best_train_traces_per_s", best_t.batch / (best_t.train_ms * 1e-3), "traces/s", NULL);
    nbb_report_append(r, table);
    nbb_report_free(table);
    if (acc && (s = nbb_accuracy_measure(acc, &t->options, r)))
        return s;
    *fwd = best_f.batch / (best_f.fwd_ms * 1e-3);
    *train = best_t.batch / (best_t.train_ms * 1e-3);
    return NB_OK;
}

nb_status nbb_operator(const nbb_operator_options *o, nbb_report *r)
{
    nm_config c;
    nb_status s = nm_config_preset("noble", &c);
    if (s)
        return s;
    c.length = o->length ? o->length : (o->quick ? 520 : 8580);
    if ((s = nm_config_check(&c)))
        return s;
    int rounds = o->rounds > 0 ? o->rounds : (o->quick ? 1 : 3);
    if (rounds > 64)
        rounds = 64;
    uint32_t batches[16], nb = 0;
    const char *list = o->batches ? o->batches : (o->quick ? "1,2" : "1,8,16,32,64");
    for (const char *p = list; *p && nb < 16;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v <= 0 || v > 4096)
            return nb_error(NB_ERR_INVALID_ARGUMENT, "--batches: '%s' is not a list of batch sizes", list);
        batches[nb++] = (uint32_t)v;
        p = *end == ',' ? end + 1 : end;
    }
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    nbb_target t[NBB_MAX_TARGETS];
    uint32_t nt;
    if ((s = nbb_targets(o->backend, t, NBB_MAX_TARGETS, &nt)))
        return s;
    char names[256] = "";
    for (uint32_t i = 0; i < nt; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", t[i].name);
    nbb_report_str(r, "backends_measured", names);
    nbb_report_str(r, "preset", "noble");
    nbb_report_num(r, "length", c.length, "", "samples per trace");
    nbb_report_num(r, "parameters", (double)nm_param_count(&c), "", NULL);
    nbb_report_num(r, "rounds", rounds, "", "each time is the median of this many");
    nbb_report_header(r);
    /* the accuracy line at the bench's length (reference in double, once) */
    nbb_accuracy *acc = NULL;
    if ((s = nbb_accuracy_prepare(c.length, &acc)))
        return s;

    float *params = malloc(nm_param_count(&c) * 4);
    if (!params) {
        nbb_accuracy_free(acc);
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    nm_params_init(&c, 1, params);
    nbb_report *b[NBB_MAX_TARGETS] = {0};
    double fwd[NBB_MAX_TARGETS], train[NBB_MAX_TARGETS];
    for (uint32_t i = 0; i < nt && !s; i++) {
        if (!(b[i] = nbb_report_new(t[i].name)))
            s = nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        else
            s = operator_one(&t[i], &c, batches, nb, rounds, o->quick, params, acc, b[i], &fwd[i], &train[i]);
    }
    free(params);
    nbb_accuracy_free(acc);
    if (s) {
        for (uint32_t i = 0; i < nt; i++)
            nbb_report_free(b[i]);
        return s;
    }

    /* PyTorch once, after every backend, on the same machine. */
    if (!o->no_torch) {
        char *json = NULL;
        int rc = run_torch(&c, list, rounds, threads, &json);
        double tf = json ? json_number(json, "best_forward", "traces_per_s") : NAN;
        double tt = json ? json_number(json, "best_train", "traces_per_s") : NAN;
        if (rc != 0 || !isfinite(tf) || !isfinite(tt)) {
            nbb_report_str(r, "torch", "failed: run bench/reference/torch_bench.py by hand to see why");
        } else {
            nbb_report_num(r, "torch_threads", threads, "", "the same as noble's machine has");
            nbb_report_num(r, "torch_malloc_best_configuration",
                           strstr(json, "\"malloc_best_configuration\": true") ? 1 : 0, "",
                           "1: glibc malloc thresholds set as PLATFORM.md says");
            nbb_report_num(r, "torch_best_forward_traces_per_s", tf, "traces/s", "at PyTorch's best batch");
            nbb_report_num(r, "torch_best_forward_batch", json_number(json, "best_forward", "batch"), "", NULL);
            nbb_report_num(r, "torch_best_train_traces_per_s", tt, "traces/s", "at PyTorch's best batch");
            nbb_report_num(r, "torch_best_train_batch", json_number(json, "best_train", "batch"), "", NULL);
            for (uint32_t i = 0; i < nt; i++) {
                char key[64];
                nbb_report_num(b[i], "forward_vs_torch_ratio", fwd[i] / tf, "x",
                               "this backend's best / PyTorch's best (timed once, same run); > 1: noble faster");
                nbb_report_num(b[i], "train_vs_torch_ratio", train[i] / tt, "x",
                               "this backend's best / PyTorch's best (timed once, same run); > 1: noble faster");
                /* one line per backend at the top, for people */
                snprintf(key, sizeof key, "%s_forward_vs_torch_ratio", t[i].name);
                for (char *k = key; *k; k++)
                    *k = *k == ':' ? '_' : *k;
                nbb_report_num(r, key, fwd[i] / tf, "x", t[i].name);
                snprintf(key, sizeof key, "%s_train_vs_torch_ratio", t[i].name);
                for (char *k = key; *k; k++)
                    *k = *k == ':' ? '_' : *k;
                nbb_report_num(r, key, train[i] / tt, "x", t[i].name);
            }
        }
        free(json);
    }
    /* The first backend (the default where it was measured) also at the top,
     * where readers of the one-backend layout find it; then every backend. */
    nbb_report_append_json_only(r, b[0]);
    for (uint32_t i = 0; i < nt; i++)
        nbb_report_add_child(r, "backends", b[i]);
    return NB_OK;
}
