/* cmd_model.c - `noble model`: describe, create and run operators. */
#include "commands.h"
#include "nb_bench.h"
#include "nm_models.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct opts {
    const char *preset, *checkpoint, *input, *output, *out, *dataset, *current, *codes;
    long length, seed, batch;
    int json;
} opts;

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "noble model: %s%s%s (see noble help)\n", msg, arg ? " " : "", arg ? arg : "");
    return 2;
}

static int parse(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 0;
    o->dataset = "x";
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **sv = NULL;
        long *lv = NULL;
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "--preset") == 0)
            sv = &o->preset;
        else if (strcmp(a, "--checkpoint") == 0)
            sv = &o->checkpoint;
        else if (strcmp(a, "--input") == 0)
            sv = &o->input;
        else if (strcmp(a, "--output") == 0)
            sv = &o->output;
        else if (strcmp(a, "--out") == 0)
            sv = &o->out;
        else if (strcmp(a, "--dataset") == 0)
            sv = &o->dataset;
        else if (strcmp(a, "--current") == 0)
            sv = &o->current;
        else if (strcmp(a, "--codes") == 0)
            sv = &o->codes;
        else if (strcmp(a, "--length") == 0)
            lv = &o->length;
        else if (strcmp(a, "--seed") == 0)
            lv = &o->seed;
        else if (strcmp(a, "--batch") == 0)
            lv = &o->batch;
        else
            return usage_error("unknown argument", a);
        if (i + 1 >= argc)
            return usage_error("missing value after", a);
        if (sv) {
            *sv = argv[++i];
        } else {
            /* the allowed ranges: a window the FFT can take, a seed, a batch */
            long lo = lv == &o->length ? 8 : lv == &o->batch ? 1 : 0;
            long hi = lv == &o->length ? 1L << 20 : lv == &o->batch ? 65536 : (1L << 53);
            char *end;
            errno = 0;
            *lv = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end || errno || *lv < lo || *lv > hi) {
                fprintf(stderr, "noble model: %s %s: expected an integer from %ld to %ld\n", a, argv[i], lo, hi);
                return 2;
            }
        }
    }
    return 0;
}

static int fail(const char *what)
{
    fprintf(stderr, "noble model: %s: %s\n", what, nb_last_error());
    return 1;
}

/* The configuration from --preset (with --length) or --checkpoint. */
static int config_of(const opts *o, nm_config *c, nm_checkpoint *ck)
{
    if (o->checkpoint) {
        if (nm_checkpoint_load(o->checkpoint, NULL, ck))
            return fail("cannot load the checkpoint");
        *c = ck->config;
        return 0;
    }
    if (nm_config_preset(o->preset ? o->preset : "noble", c))
        return fail("preset");
    if (o->length)
        c->length = (uint32_t)o->length;
    if (nm_config_check(c))
        return fail("configuration");
    return 0;
}

static int info(const opts *o)
{
    nm_config c;
    nm_checkpoint ck = {0};
    int rc = config_of(o, &c, &ck);
    if (rc)
        return rc;
    nm_param t[8 + 8 * 64 + 8];
    uint32_t n = nm_param_table(&c, t, sizeof t / sizeof *t);
    uint64_t P = nm_param_count(&c);
    if (o->json) {
        nbb_json j;
        nbb_json_init(&j, stdout);
        nbb_json_object(&j, NULL);
        nbb_json_str(&j, "preset", c.preset);
        nbb_json_int(&j, "parameters", (long long)P);
        nbb_json_object(&j, "config");
        nbb_json_int(&j, "in_channels", c.in_channels);
        nbb_json_int(&j, "out_channels", c.out_channels);
        nbb_json_int(&j, "width", c.width);
        nbb_json_int(&j, "blocks", c.blocks);
        nbb_json_int(&j, "modes", c.modes);
        nbb_json_int(&j, "length", c.length);
        nbb_json_int(&j, "lifting_channels", c.lifting_channels);
        nbb_json_int(&j, "projection_channels", c.projection_channels);
        nbb_json_int(&j, "mlp_channels", c.mlp_channels);
        nbb_json_int(&j, "grid", c.grid);
        nbb_json_int(&j, "last_block_activation", c.last_block_activation);
        nbb_json_end(&j, '}');
        nbb_json_array(&j, "tensors");
        for (uint32_t i = 0; i < n; i++) {
            nbb_json_object(&j, NULL);
            nbb_json_str(&j, "name", t[i].name);
            nbb_json_array(&j, "shape");
            for (uint32_t k = 0; k < t[i].rank; k++)
                nbb_json_int(&j, NULL, t[i].shape[k]);
            nbb_json_end(&j, ']');
            nbb_json_bool(&j, "complex", t[i].complex);
            nbb_json_int(&j, "offset", (long long)t[i].offset);
            nbb_json_int(&j, "count", (long long)t[i].count);
            nbb_json_end(&j, '}');
        }
        nbb_json_end(&j, ']');
        nbb_json_end(&j, '}');
    } else {
        char big[32];
        snprintf(big, sizeof big, "%llu", (unsigned long long)P);
        /* thousands separators: 1803001 -> 1,803,001 */
        char sep[40];
        int len = (int)strlen(big), at = 0;
        for (int i = 0; i < len; i++) {
            sep[at++] = big[i];
            if ((len - i - 1) % 3 == 0 && i + 1 < len)
                sep[at++] = ',';
        }
        sep[at] = 0;
        printf("model%s%s: %s parameters (a complex weight counts as two)\n", c.preset[0] ? " " : "", c.preset, sep);
        printf("  in %u channels%s -> lifting %u -> %u FNO blocks of width %u, %u modes, channel MLP %u -> "
               "projection %u -> out %u; length %u%s\n",
               c.in_channels, c.grid ? " + grid" : "", c.lifting_channels, c.blocks, c.width, c.modes, c.mlp_channels,
               c.projection_channels, c.out_channels, c.length,
               c.last_block_activation ? "" : "; no activation after the last block");
        for (uint32_t i = 0; i < n; i++) {
            char shape[64];
            int a = 0;
            for (uint32_t k = 0; k < t[i].rank; k++)
                a += snprintf(shape + a, sizeof shape - (size_t)a, "%s%u", k ? ", " : "", t[i].shape[k]);
            printf("  %-42s (%s)%s %llu\n", t[i].name, shape, t[i].complex ? " complex" : "",
                   (unsigned long long)t[i].count);
        }
    }
    nm_checkpoint_free(&ck);
    return 0;
}

static int init(const opts *o)
{
    if (!o->out)
        return usage_error("init needs --out FILE", NULL);
    nm_config c;
    nm_checkpoint ck = {0};
    int rc = config_of(o, &c, &ck);
    if (rc)
        return rc;
    nm_checkpoint_free(&ck);
    memset(&ck, 0, sizeof ck);
    ck.config = c;
    ck.params = malloc(nm_param_count(&c) * sizeof(float));
    if (!ck.params) {
        fprintf(stderr, "noble model: out of host memory\n");
        return 1;
    }
    nm_params_init(&c, (uint64_t)o->seed, ck.params);
    nm_adamw_default(&ck.opt);
    nm_rng_seed(&ck.rng, (uint64_t)o->seed);
    nb_status s = nm_checkpoint_save(o->out, &ck);
    free(ck.params);
    if (s)
        return fail("init");
    printf("wrote %s (%s, %llu parameters, seed %ld)\n", o->out, c.preset[0] ? c.preset : "custom",
           (unsigned long long)nm_param_count(&c), o->seed);
    return 0;
}

/* Runs what the checkpoint is. With an embedding (a NOBLE model, made by
 * noble train) the network predicts V / voltage_scale: from --current
 * (batch, length) pA and --codes (batch, codes) it makes the input on the
 * device and gives mV; from an operator input (--dataset, (batch,
 * in_channels, length)) its output is scaled to mV. Without an embedding
 * the output is the bare operator's, in the units it was trained to:
 * written with units "1" and said so. */
static int run_model(const opts *o)
{
    if (!o->checkpoint || !o->input || !o->output)
        return usage_error("run needs --checkpoint FILE --input FILE --output FILE", NULL);
    if ((o->current != NULL) != (o->codes != NULL))
        return usage_error("--current and --codes go together (the NOBLE input: current in pA, codes)", NULL);
    nm_checkpoint ck;
    if (nm_checkpoint_load(o->checkpoint, NULL, &ck))
        return fail("cannot load the checkpoint");
    const nm_config *c = &ck.config;
    float *x = NULL, *q = NULL, *y = NULL;
    uint32_t rank = 0, qrank = 0;
    uint64_t d[4], qd[4];
    nb_context *ctx = NULL;
    nm_model *m = NULL;
    int rc = 1;
    const int embedded = o->current != NULL;
    if (embedded && !ck.has_embedding) {
        fprintf(stderr, "noble model: %s has no embedding: --current and --codes need a checkpoint made by noble "
                        "train; give the operator's input (--dataset NAME, shape (batch, %u, %u))\n",
                o->checkpoint, c->in_channels, c->length);
        goto done;
    }
    if (embedded) {
        if (nm_array_load(o->input, o->current, &x, &rank, d) || nm_array_load(o->input, o->codes, &q, &qrank, qd)) {
            fail("input");
            goto done;
        }
        if (rank != 2 || d[1] != c->length || qrank != 2 || qd[0] != d[0] || qd[1] != ck.embedding.n_codes) {
            fprintf(stderr,
                    "noble model: %s: '%s' must have shape (batch, %u) and '%s' (batch, %u); they have rank %u and "
                    "%u (%llu, %llu) and (%llu, %llu)\n",
                    o->input, o->current, c->length, o->codes, ck.embedding.n_codes, rank, qrank,
                    (unsigned long long)d[0], rank > 1 ? (unsigned long long)d[1] : 0ull, (unsigned long long)qd[0],
                    qrank > 1 ? (unsigned long long)qd[1] : 0ull);
            goto done;
        }
    } else {
        if (nm_array_load(o->input, o->dataset, &x, &rank, d)) {
            fail("input");
            goto done;
        }
        if (rank != 3 || d[1] != c->in_channels || d[2] != c->length) {
            char shape[96];
            int at = 0;
            for (uint32_t k = 0; k < rank && at < (int)sizeof shape; k++)
                at += snprintf(shape + at, sizeof shape - (size_t)at, "%s%llu", k ? ", " : "", (unsigned long long)d[k]);
            fprintf(stderr, "noble model: %s '%s' has shape (%s), the model takes (batch, %u, %u)\n", o->input,
                    o->dataset, shape, c->in_channels, c->length);
            goto done;
        }
    }
    const uint32_t out_ch = embedded ? 1 : c->out_channels;
    uint32_t B = (uint32_t)d[0], mb = o->batch ? (uint32_t)o->batch : (B < 64 ? B : 64);
    y = malloc((uint64_t)B * out_ch * c->length * sizeof *y);
    if (!y || nb_context_create(NULL, &ctx)) {
        fail("device");
        goto done;
    }
    if (nm_model_create(ctx, c, mb, 0, &m) || nm_model_set_params(m, ck.params) ||
        (ck.has_embedding && nm_model_set_embedding(m, &ck.embedding))) {
        fail("model");
        goto done;
    }
    for (uint32_t at = 0; at < B; at += mb) {
        uint32_t b = B - at < mb ? B - at : mb;
        nb_status s = embedded ? nm_model_predict(m, x + (uint64_t)at * c->length,
                                                  q + (uint64_t)at * ck.embedding.n_codes, b,
                                                  y + (uint64_t)at * c->length)
                               : nm_model_forward(m, x + (uint64_t)at * c->in_channels * c->length, b,
                                                  y + (uint64_t)at * c->out_channels * c->length);
        if (s) {
            fail(embedded ? "predict" : "forward");
            goto done;
        }
    }
    if (!embedded && ck.has_embedding) /* the network predicts V / voltage_scale */
        for (uint64_t i = 0; i < (uint64_t)B * out_ch * c->length; i++)
            y[i] = (float)(y[i] * ck.embedding.voltage_scale);
    uint64_t yd[3] = {B, out_ch, c->length};
    if (embedded) {
        yd[1] = c->length;
    }
    const char *units = ck.has_embedding ? "mV" : "1";
    if (nm_array_save(o->output, "y", y, embedded ? 2 : 3, yd, units)) {
        fail("output");
        goto done;
    }
    if (nb_context_check(ctx)) {
        fail("validation");
        goto done;
    }
    if (embedded)
        printf("wrote y (%u, %u) in mV to %s\n", B, c->length, o->output);
    else if (ck.has_embedding)
        printf("wrote y (%u, %u, %u) in mV (the operator's output x voltage_scale %g mV) to %s\n", B, out_ch,
               c->length, ck.embedding.voltage_scale, o->output);
    else
        printf("wrote y (%u, %u, %u) to %s: the bare operator's output, in the units it was trained to (the "
               "checkpoint has no embedding, so no voltage scale; units \"1\")\n",
               B, out_ch, c->length, o->output);
    rc = 0;
done:
    nm_model_destroy(m);
    nb_context_destroy(ctx);
    free(x);
    free(q);
    free(y);
    nm_checkpoint_free(&ck);
    return rc;
}

/* An inference copy: parameters, embedding and the training script's state
 * (window, training points), without the optimiser's moments. */
static int export_model(const opts *o)
{
    if (!o->checkpoint || !o->out)
        return usage_error("export needs --checkpoint FILE --out FILE", NULL);
    nm_checkpoint ck;
    if (nm_checkpoint_load(o->checkpoint, NULL, &ck))
        return fail("cannot load the checkpoint");
    free(ck.exp_avg);
    free(ck.exp_avg_sq);
    ck.exp_avg = ck.exp_avg_sq = NULL;
    nb_status s = nm_checkpoint_save(o->out, &ck);
    if (!s)
        printf("wrote %s (epoch %llu, %llu parameters, %s embedding, no optimiser moments)\n", o->out,
               (unsigned long long)ck.epoch, (unsigned long long)nm_param_count(&ck.config),
               ck.has_embedding ? "with its" : "no");
    nm_checkpoint_free(&ck);
    return s ? fail("export") : 0;
}

int nbc_model(int argc, char **argv)
{
    if (argc < 1)
        return usage_error("which? info, init, run or export", NULL);
    opts o;
    int rc = parse(argc - 1, argv + 1, &o);
    if (rc)
        return rc;
    if (strcmp(argv[0], "info") == 0)
        return info(&o);
    if (strcmp(argv[0], "init") == 0)
        return init(&o);
    if (strcmp(argv[0], "run") == 0)
        return run_model(&o);
    if (strcmp(argv[0], "export") == 0)
        return export_model(&o);
    return usage_error("unknown subcommand", argv[0]);
}
