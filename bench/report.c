/* report.c - a small JSON writer and the key/value report of a benchmark. */
#include "nb_bench.h"
#include "nbb_build_info.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double nbb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double nbb_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The q-quantile of sorted v by linear interpolation (numpy's default). */
static double quantile(const double *v, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1)
        return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

void nbb_stats_of(const double *v, int n, nbb_stats *out)
{
    memset(out, 0, sizeof *out);
    out->n = n > 0 ? n : 0;
    if (n <= 0) {
        out->median = out->q1 = out->q3 = out->min = out->max = NAN;
        return;
    }
    double *w = malloc((size_t)n * sizeof *w);
    if (!w) {
        out->median = out->q1 = out->q3 = out->min = out->max = NAN;
        return;
    }
    memcpy(w, v, (size_t)n * sizeof *w);
    qsort(w, (size_t)n, sizeof *w, cmp_double);
    out->median = quantile(w, n, 0.5);
    out->q1 = quantile(w, n, 0.25);
    out->q3 = quantile(w, n, 0.75);
    out->min = w[0];
    out->max = w[n - 1];
    free(w);
}

void nbb_json_init(nbb_json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        case '\r': fputs("\\r", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void member(nbb_json *j, const char *key)
{
    if (j->depth > 0) {
        if (j->count[j->depth]++)
            fputc(',', j->f);
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
    }
    if (key) {
        put_string(j->f, key);
        fputs(": ", j->f);
    }
}

static void open_(nbb_json *j, const char *key, char c)
{
    member(j, key);
    fputc(c, j->f);
    if (j->depth < 31)
        j->depth++;
    j->count[j->depth] = 0;
}

void nbb_json_object(nbb_json *j, const char *key) { open_(j, key, '{'); }
void nbb_json_array(nbb_json *j, const char *key) { open_(j, key, '['); }

void nbb_json_end(nbb_json *j, char close)
{
    int had = j->count[j->depth];
    if (j->depth > 0)
        j->depth--;
    if (had) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
    }
    fputc(close, j->f);
    if (j->depth == 0)
        fputc('\n', j->f);
}

void nbb_json_str(nbb_json *j, const char *key, const char *v)
{
    member(j, key);
    put_string(j->f, v ? v : "");
}

void nbb_json_num(nbb_json *j, const char *key, double v)
{
    member(j, key);
    if (isfinite(v) && v == floor(v) && fabs(v) < 1e15)
        fprintf(j->f, "%.0f", v); /* integers exactly */
    else if (isfinite(v))
        fprintf(j->f, "%.7g", v);
    else
        fputs("null", j->f); /* JSON has no NaN or infinity */
}

void nbb_json_int(nbb_json *j, const char *key, long long v)
{
    member(j, key);
    fprintf(j->f, "%lld", v);
}

void nbb_json_bool(nbb_json *j, const char *key, int v)
{
    member(j, key);
    fputs(v ? "true" : "false", j->f);
}

void nbb_json_device(nbb_json *j, const nb_device_info *d)
{
    char buf[256];
    nbb_json_int(j, "index", d->index);
    nbb_json_str(j, "name", d->name);
    nbb_json_str(j, "type", nb_device_type_name(d->type));
    nbb_json_str(j, "vendor", d->vendor);
    snprintf(buf, sizeof buf, "0x%04x", d->vendor_id);
    nbb_json_str(j, "vendor_id", buf);
    snprintf(buf, sizeof buf, "0x%04x", d->device_id);
    nbb_json_str(j, "device_id", buf);
    nbb_json_str(j, "driver_name", d->driver_name);
    nbb_json_str(j, "driver_info", d->driver_info);
    nbb_json_str(j, "driver_version", d->driver_version_str);
    nbb_json_str(j, "api_version", d->api_version_str);
    nbb_json_int(j, "driver_id", d->driver_id);
    nbb_json_str(j, "conformance_version", d->conformance_version);
    nbb_json_bool(j, "usable", d->usable);
    nbb_json_object(j, "limits");
    nbb_json_int(j, "device_local_bytes", (long long)d->device_local_bytes);
    nbb_json_int(j, "max_allocation_bytes", (long long)d->max_allocation_bytes);
    nbb_json_int(j, "max_storage_buffer_range", (long long)d->max_storage_buffer_range);
    nbb_json_int(j, "max_push_constants_size", d->max_push_constants_size);
    nbb_json_int(j, "max_workgroup_invocations", d->max_workgroup_invocations);
    nbb_json_array(j, "max_workgroup_size");
    for (int i = 0; i < 3; i++)
        nbb_json_int(j, NULL, d->max_workgroup_size[i]);
    nbb_json_end(j, ']');
    nbb_json_array(j, "max_workgroup_count");
    for (int i = 0; i < 3; i++)
        nbb_json_int(j, NULL, d->max_workgroup_count[i]);
    nbb_json_end(j, ']');
    nbb_json_int(j, "max_shared_memory_bytes", d->max_shared_memory_bytes);
    nbb_json_int(j, "min_storage_buffer_offset_alignment", (long long)d->min_storage_buffer_offset_alignment);
    nbb_json_bool(j, "unified_memory", d->unified_memory);
    nbb_json_end(j, '}');
    nbb_json_object(j, "features");
    nbb_json_bool(j, "storage_16bit", d->storage_16bit);
    nbb_json_bool(j, "float16_arithmetic", d->float16_arithmetic);
    nbb_json_bool(j, "float64", d->float64);
    nbb_json_int(j, "subgroup_size", d->subgroup_size);
    nbb_json_int(j, "subgroup_min_size", d->subgroup_min_size);
    nbb_json_int(j, "subgroup_max_size", d->subgroup_max_size);
    nb_subgroup_ops_string(d->subgroup_ops, buf, sizeof buf);
    nbb_json_str(j, "subgroup_operations", buf);
    nbb_json_bool(j, "timestamps", d->timestamps);
    nbb_json_num(j, "timestamp_period_ns", d->timestamp_period_ns);
    nbb_json_int(j, "timestamp_valid_bits", d->timestamp_valid_bits);
    nbb_json_bool(j, "cooperative_matrix", d->cooperative_matrix);
    nbb_json_int(j, "max_loop_iterations", d->max_loop_iterations);
    if (d->threads) {
        nbb_json_int(j, "threads", d->threads);
        nbb_json_str(j, "simd", d->simd);
    }
    nbb_json_end(j, '}');
}

/* ---------------------------------------------------------------- report */

typedef enum row_kind { ROW_STR = 0, ROW_NUM, ROW_OBJECT, ROW_SAMPLES, ROW_NUMBERS } row_kind;

typedef struct row {
    char key[64];
    char unit[16];
    char text[256]; /* string rows */
    char note[160];
    double value;
    int is_num;    /* ROW_NUM */
    row_kind kind;
    int json_only; /* a copy kept for readers of the older layout: not in the text */
    nbb_report *sub; /* ROW_OBJECT, owned */
    double *v;       /* ROW_SAMPLES, ROW_NUMBERS, owned */
    int nv;
} row;

#define MAX_CHILDREN 16

struct nbb_report {
    char bench[64]; /* for a child: its title in the text */
    row *rows;
    int n, cap;
    char array[32];                      /* the children's array key */
    nbb_report *children[MAX_CHILDREN];  /* owned */
    int nchildren;
};

nbb_report *nbb_report_new(const char *bench)
{
    nbb_report *r = calloc(1, sizeof *r);
    if (r)
        snprintf(r->bench, sizeof r->bench, "%s", bench);
    return r;
}

static row *add(nbb_report *r, const char *key)
{
    if (!r)
        return NULL; /* an object that could not be made: its rows are dropped */
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 32;
        row *nr = realloc(r->rows, (size_t)cap * sizeof *nr);
        if (!nr)
            return NULL;
        r->rows = nr;
        r->cap = cap;
    }
    row *w = &r->rows[r->n++];
    memset(w, 0, sizeof *w);
    snprintf(w->key, sizeof w->key, "%s", key);
    return w;
}

void nbb_report_str(nbb_report *r, const char *key, const char *value)
{
    row *w = add(r, key);
    if (w)
        snprintf(w->text, sizeof w->text, "%s", value ? value : "");
}

void nbb_report_num(nbb_report *r, const char *key, double value, const char *unit, const char *note)
{
    row *w = add(r, key);
    if (!w)
        return;
    w->is_num = 1;
    w->kind = ROW_NUM;
    w->value = value;
    snprintf(w->unit, sizeof w->unit, "%s", unit ? unit : "");
    snprintf(w->note, sizeof w->note, "%s", note ? note : "");
}

nbb_report *nbb_report_object(nbb_report *r, const char *key)
{
    if (!r)
        return NULL;
    nbb_report *sub = nbb_report_new(key);
    if (!sub)
        return NULL;
    row *w = add(r, key);
    if (!w) {
        free(sub);
        return NULL;
    }
    w->kind = ROW_OBJECT;
    w->sub = sub;
    return sub;
}

static void array_row(nbb_report *r, row_kind kind, const char *key, const double *v, int n, const char *unit,
                      const char *note)
{
    if (!r)
        return;
    double *copy = malloc((size_t)(n > 0 ? n : 1) * sizeof *copy);
    if (!copy)
        return;
    row *w = add(r, key);
    if (!w) {
        free(copy);
        return;
    }
    if (n > 0)
        memcpy(copy, v, (size_t)n * sizeof *copy);
    w->kind = kind;
    w->v = copy;
    w->nv = n > 0 ? n : 0;
    snprintf(w->unit, sizeof w->unit, "%s", unit ? unit : "");
    snprintf(w->note, sizeof w->note, "%s", note ? note : "");
}

void nbb_report_samples(nbb_report *r, const char *key, const double *v, int n, const char *unit, const char *note)
{
    array_row(r, ROW_SAMPLES, key, v, n, unit, note);
}

void nbb_report_numbers(nbb_report *r, const char *key, const double *v, int n, const char *note)
{
    array_row(r, ROW_NUMBERS, key, v, n, NULL, note);
}

static void json_rows(nbb_json *j, const nbb_report *r)
{
    for (int i = 0; i < r->n; i++) {
        const row *w = &r->rows[i];
        switch (w->kind) {
        case ROW_NUM: nbb_json_num(j, w->key, w->value); break;
        case ROW_STR: nbb_json_str(j, w->key, w->text); break;
        case ROW_OBJECT:
            nbb_json_object(j, w->key);
            json_rows(j, w->sub);
            nbb_json_end(j, '}');
            break;
        case ROW_NUMBERS:
            nbb_json_array(j, w->key);
            for (int k = 0; k < w->nv; k++)
                nbb_json_num(j, NULL, w->v[k]);
            nbb_json_end(j, ']');
            break;
        case ROW_SAMPLES: {
            nbb_stats st;
            nbb_stats_of(w->v, w->nv, &st);
            nbb_json_object(j, w->key);
            nbb_json_str(j, "unit", w->unit);
            nbb_json_int(j, "n", w->nv);
            nbb_json_array(j, "samples");
            for (int k = 0; k < w->nv; k++)
                nbb_json_num(j, NULL, w->v[k]);
            nbb_json_end(j, ']');
            nbb_json_num(j, "median", st.median);
            nbb_json_num(j, "q1", st.q1);
            nbb_json_num(j, "q3", st.q3);
            nbb_json_num(j, "min", st.min);
            nbb_json_num(j, "max", st.max);
            nbb_json_end(j, '}');
            break;
        }
        }
    }
    if (!r->nchildren)
        return;
    nbb_json_array(j, r->array);
    for (int c = 0; c < r->nchildren; c++) {
        nbb_json_object(j, NULL);
        json_rows(j, r->children[c]);
        nbb_json_end(j, '}');
    }
    nbb_json_end(j, ']');
}

void nbb_json_report_rows(nbb_json *j, const nbb_report *r)
{
    if (r)
        json_rows(j, r);
}

static void text_rows(const nbb_report *r, FILE *f, int indent)
{
    for (int i = 0; i < r->n; i++) {
        const row *w = &r->rows[i];
        if (w->json_only)
            continue;
        if (w->kind == ROW_NUM) {
            fprintf(f, "%*s%-36s %12.4g %-8s %s\n", indent, "", w->key, w->value, w->unit, w->note);
        } else if (w->kind == ROW_STR) {
            fprintf(f, "%*s%-36s %s\n", indent, "", w->key, w->text);
        } else if (w->kind == ROW_OBJECT) {
            fprintf(f, "%*s%s:\n", indent, "", w->key);
            text_rows(w->sub, f, indent + 2);
        } else if (w->kind == ROW_SAMPLES) {
            nbb_stats st;
            nbb_stats_of(w->v, w->nv, &st);
            fprintf(f, "%*s%-36s %12.4g %-8s median of %d; quartiles %.4g-%.4g, min %.4g\n", indent, "", w->key,
                    st.median, w->unit, st.n, st.q1, st.q3, st.min);
        } else {
            fprintf(f, "%*s%-36s", indent, "", w->key);
            for (int k = 0; k < w->nv; k++)
                fprintf(f, "%s%.6g", k ? "," : " ", w->v[k]);
            fprintf(f, "\n");
        }
    }
    for (int c = 0; c < r->nchildren; c++) {
        fprintf(f, "\n%*s%s[%d]: %s\n", indent, "", r->array, c, r->children[c]->bench);
        text_rows(r->children[c], f, indent + 2);
    }
}

void nbb_report_print(const nbb_report *r, FILE *f, int json)
{
    if (json) {
        nbb_json j;
        nbb_json_init(&j, f);
        nbb_json_object(&j, NULL);
        nbb_json_str(&j, "bench", r->bench);
        nbb_json_int(&j, "format_version", NBB_FORMAT_VERSION);
        json_rows(&j, r);
        nbb_json_end(&j, '}');
        return;
    }
    fprintf(f, "noble bench %s\n", r->bench);
    text_rows(r, f, 2);
}

void nbb_report_free(nbb_report *r)
{
    if (!r)
        return;
    for (int c = 0; c < r->nchildren; c++)
        nbb_report_free(r->children[c]);
    for (int i = 0; i < r->n; i++) {
        nbb_report_free(r->rows[i].sub);
        free(r->rows[i].v);
    }
    free(r->rows);
    free(r);
}

void nbb_report_add_child(nbb_report *r, const char *array, nbb_report *child)
{
    if (!child)
        return;
    if (r->nchildren == MAX_CHILDREN) {
        nbb_report_free(child);
        return;
    }
    snprintf(r->array, sizeof r->array, "%s", array);
    r->children[r->nchildren++] = child;
}

void nbb_report_append_json_only(nbb_report *r, const nbb_report *src)
{
    for (int i = 0; src && i < src->n; i++) {
        if (src->rows[i].kind != ROW_NUM && src->rows[i].kind != ROW_STR)
            continue; /* nested rows stay with their owner */
        row *w = add(r, src->rows[i].key);
        if (w) {
            *w = src->rows[i];
            w->json_only = 1;
        }
    }
}

double nbb_report_get(const nbb_report *r, const char *key)
{
    for (int i = 0; r && i < r->n; i++)
        if (r->rows[i].is_num && strcmp(r->rows[i].key, key) == 0)
            return r->rows[i].value;
    return NAN;
}

void nbb_report_append(nbb_report *r, const nbb_report *src)
{
    for (int i = 0; src && i < src->n; i++) {
        if (src->rows[i].kind != ROW_NUM && src->rows[i].kind != ROW_STR)
            continue; /* nested rows stay with their owner */
        row *w = add(r, src->rows[i].key);
        if (w)
            *w = src->rows[i];
    }
}

/* -------------------------------------------------------------- backends */

int nbb_backend_parse(const char *s, nbb_backend_sel *out)
{
    static const char *const names[] = {"all", "auto", "vulkan", "cpu"};
    if (!s) {
        *out = NBB_BACKEND_ALL;
        return 1;
    }
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (nbb_backend_sel)i;
            return 1;
        }
    return 0;
}

static void target(nbb_target *t, nb_backend b, int device_index, const char *name)
{
    memset(t, 0, sizeof *t);
    nb_context_options_default(&t->options);
    t->options.backend = b;
    t->options.device_index = device_index;
    t->backend = b;
    snprintf(t->name, sizeof t->name, "%s", name);
}

/* Opens a context with o; on success, the backend and Vulkan device index it got. */
static nb_status probe(const nb_context_options *o, nb_backend *b, int *index)
{
    nb_context *ctx;
    nb_status s = nb_context_create(o, &ctx);
    if (s)
        return s;
    *b = nb_context_backend(ctx);
    *index = *b == NB_BACKEND_VULKAN ? (int)nb_context_device(ctx)->index : -1;
    nb_context_destroy(ctx);
    return NB_OK;
}

nb_status nbb_targets(nbb_backend_sel sel, nbb_target *out, uint32_t cap, uint32_t *n)
{
    *n = 0;
    nb_backend db = NB_BACKEND_AUTO;
    int di = -1;
    nb_status ds = probe(NULL, &db, &di); /* the default: what nb_context_create(NULL) opens */
    if (sel == NBB_BACKEND_AUTO) {
        if (ds)
            return ds;
        target(&out[0], db, di, nb_backend_name(db));
        out[0].is_default = 1;
        *n = 1;
        return NB_OK;
    }
    if (sel == NBB_BACKEND_CPU) {
        target(&out[0], NB_BACKEND_CPU, -1, "cpu");
        out[0].is_default = !ds && db == NB_BACKEND_CPU;
        *n = 1;
        return NB_OK;
    }
    if (sel == NBB_BACKEND_VULKAN) {
        nb_context_options o;
        nb_context_options_default(&o);
        o.backend = NB_BACKEND_VULKAN;
        nb_backend b;
        int i;
        nb_status s = probe(&o, &b, &i);
        if (s)
            return s;
        target(&out[0], NB_BACKEND_VULKAN, i, "vulkan");
        out[0].is_default = !ds && db == NB_BACKEND_VULKAN && di == i;
        *n = 1;
        return NB_OK;
    }
    /* all: every Vulkan device a context opens on, then the CPU backend */
    nb_device_info devs[NBB_MAX_TARGETS - 1];
    uint32_t nd = 0, nv = 0;
    int open[NBB_MAX_TARGETS - 1] = {0};
    if (cap < NBB_MAX_TARGETS)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nbb_targets: room for %d targets needed", NBB_MAX_TARGETS);
    if (nb_devices_list(devs, NBB_MAX_TARGETS - 1, &nd, NULL) != NB_OK)
        nd = 0; /* no Vulkan loader or driver: the CPU backend alone */
    for (uint32_t i = 0; i < nd; i++) {
        if (!devs[i].usable)
            continue;
        nb_context_options o;
        nb_context_options_default(&o);
        o.backend = NB_BACKEND_VULKAN;
        o.device_index = (int)devs[i].index;
        nb_backend b;
        int idx;
        if (probe(&o, &b, &idx) == NB_OK) {
            open[i] = 1;
            nv++;
        }
    }
    for (uint32_t i = 0; i < nd; i++) {
        if (!open[i])
            continue;
        char name[32];
        if (nv > 1)
            snprintf(name, sizeof name, "vulkan:%u", devs[i].index);
        else
            snprintf(name, sizeof name, "vulkan");
        target(&out[*n], NB_BACKEND_VULKAN, (int)devs[i].index, name);
        out[*n].is_default = !ds && db == NB_BACKEND_VULKAN && di == (int)devs[i].index;
        (*n)++;
    }
    target(&out[*n], NB_BACKEND_CPU, -1, "cpu");
    out[*n].is_default = !ds && db == NB_BACKEND_CPU;
    (*n)++;
    for (uint32_t i = 1; i < *n; i++) /* the default first */
        if (out[i].is_default) {
            nbb_target t = out[i];
            memmove(&out[1], &out[0], i * sizeof *out);
            out[0] = t;
        }
    return NB_OK;
}

static void hex_uuid(const uint8_t u[16], char *out, size_t cap)
{
    size_t k = 0;
    for (int i = 0; i < 16 && k + 3 < cap; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        k += (size_t)snprintf(out + k, cap - k, "%02x", u[i]);
    }
    out[k < cap ? k : cap - 1] = 0;
}

static void software(nbb_report *o)
{
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", NB_VERSION_MAJOR, NB_VERSION_MINOR, NB_VERSION_PATCH);
    nbb_report_str(o, "noble_version", v);
    nbb_report_str(o, "noble_commit", NBB_NOBLE_COMMIT);
    nbb_report_str(o, "vkfft_version", nb_vkfft_version());
    nbb_report_str(o, "fftw_version", nb_fftw_version());
}

void nbb_report_header(nbb_report *r)
{
    nbb_report *o = nbb_report_object(r, "identity");
    if (!o)
        return;
    software(o);
    char when[64];
    nb_device_info host; /* the runtime reads the processor's name (/proc/cpuinfo) */
    nbb_report_str(o, "host_cpu_model", nb_cpu_device_info(1, &host) ? "" : host.cpu_model);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    nbb_report_num(o, "host_cpus", cores > 0 ? (double)cores : NAN, "", "online logical CPUs");
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) && strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm))
        nbb_report_str(o, "started_utc", when);
}

void nbb_report_backend(nbb_report *r, const nbb_target *t, nb_context *ctx)
{
    const nb_device_info *d = nb_context_device(ctx);
    const int cpu = nb_context_backend(ctx) == NB_BACKEND_CPU;
    nbb_report_str(r, "backend", t->name);
    nbb_report_num(r, "default_backend", t->is_default, "", "1: the backend nb_context_create(NULL) opens here");
    nbb_report_str(r, "device", d->name);
    nbb_report_str(r, "device_type", nb_device_type_name(d->type));
    nbb_report_str(r, "driver", d->driver_info[0] ? d->driver_info : d->driver_version_str);
    nbb_report_str(r, "fft_backend", nb_fft_backend_name(nb_context_fft_backend(ctx)));
    if (cpu) {
        nbb_report_num(r, "threads", d->threads, "", "worker threads of the CPU backend (NOBLE_THREADS)");
        nbb_report_str(r, "simd", d->simd);
    } else {
        nbb_report_str(r, "vulkan_api", d->api_version_str);
    }

    nbb_report_identity(r, ctx);
}

void nbb_report_identity(nbb_report *r, nb_context *ctx)
{
    const nb_device_info *d = nb_context_device(ctx);
    const int cpu = nb_context_backend(ctx) == NB_BACKEND_CPU;
    nbb_report *o = nbb_report_object(r, "identity");
    if (!o)
        return;
    char buf[64];
    nbb_report_str(o, "backend", nb_backend_name(nb_context_backend(ctx)));
    nbb_report_str(o, "name", d->name);
    nbb_report_str(o, "device_type", nb_device_type_name(d->type));
    nbb_report_str(o, "vendor", d->vendor);
    snprintf(buf, sizeof buf, "0x%04x", d->vendor_id);
    nbb_report_str(o, "vendor_id", buf);
    snprintf(buf, sizeof buf, "0x%04x", d->device_id);
    nbb_report_str(o, "device_id", buf);
    nbb_report_num(o, "driver_id", d->driver_id, "", "VkDriverId; 0: not reported (the CPU backend)");
    nbb_report_str(o, "driver_name", d->driver_name);
    nbb_report_str(o, "driver_info", d->driver_info);
    nbb_report_str(o, "driver_version", d->driver_version_str);
    nbb_report_str(o, "vulkan_api_version", cpu ? "" : d->api_version_str);
    nbb_report_str(o, "conformance_version", d->conformance_version);
    hex_uuid(d->device_uuid, buf, sizeof buf);
    nbb_report_str(o, "device_uuid", cpu ? "" : buf);
    nbb_report_str(o, "fft_backend", nb_fft_backend_name(nb_context_fft_backend(ctx)));
    if (cpu) {
        nbb_report_str(o, "cpu_model", d->cpu_model);
        nbb_report_num(o, "threads", d->threads, "", "worker threads");
        nbb_report_str(o, "simd", d->simd);
    }
    software(o);
}

nbb_report *nbb_report_conditions(nbb_report *r, nb_context *ctx, int rounds, int warmup)
{
    const nb_device_info *d = nb_context_device(ctx);
    const int cpu = nb_context_backend(ctx) == NB_BACKEND_CPU;
    nbb_report *o = nbb_report_object(r, "conditions");
    if (!o)
        return NULL;
    nbb_report_num(o, "rounds", rounds, "", "timed rounds of each figure");
    nbb_report_num(o, "warmup_rounds", warmup, "", "untimed runs before the rounds");
    nbb_report_str(o, "wall_clock", "CLOCK_MONOTONIC on the host, ms");
    nbb_report_str(o, "device_timer", cpu ? "none: the CPU backend times each op with CLOCK_MONOTONIC"
                   : d->timestamps ? "Vulkan timestamp queries on the compute queue" : "none: no timestamps");
    nbb_report_num(o, "timestamp_period_ns", d->timestamp_period_ns, "ns", "one timestamp tick");
    nbb_report_num(o, "timestamp_valid_bits", d->timestamp_valid_bits, "bits", NULL);
    if (cpu)
        nbb_report_num(o, "threads", d->threads, "", NULL);
    return o;
}
