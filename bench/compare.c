/* compare.c - `noble bench compare A.json B.json ...`: bench files of this
 * format version side by side, one column per backend measured (a device),
 * with each column's ratio to the first. It reads JSON with a small parser
 * of its own; it refuses files of another format version, files that are not
 * noble bench files, and files of different benches. */
#include "nb_bench.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ JSON reader */

typedef enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
    jtype t;
    double num;          /* J_NUM, J_BOOL */
    char *str;           /* J_STR */
    int n;               /* J_ARR, J_OBJ */
    char **keys;         /* J_OBJ */
    struct jval *items;  /* J_ARR, J_OBJ */
} jval;

typedef struct jparser {
    const char *p, *start;
    char err[128];
} jparser;

static void jfree(jval *v)
{
    if (v->t == J_STR)
        free(v->str);
    for (int i = 0; i < v->n; i++) {
        jfree(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

static void jskip(jparser *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

static int jfail(jparser *j, const char *what)
{
    if (!j->err[0]) {
        int line = 1;
        for (const char *q = j->start; q < j->p; q++)
            line += *q == '\n';
        snprintf(j->err, sizeof j->err, "line %d: %s", line, what);
    }
    return -1;
}

static int jstring(jparser *j, char **out)
{
    if (*j->p != '"')
        return jfail(j, "expected a string");
    j->p++;
    size_t cap = 32, n = 0;
    char *s = malloc(cap);
    if (!s)
        return jfail(j, "out of memory");
    while (*j->p && *j->p != '"') {
        unsigned cp = (unsigned char)*j->p++;
        if (cp == '\\') {
            char e = *j->p++;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u': {
                char hex[5] = {0};
                for (int i = 0; i < 4; i++) {
                    if (!j->p[i]) {
                        free(s);
                        return jfail(j, "bad \\u escape");
                    }
                    hex[i] = j->p[i];
                }
                char *end;
                cp = (unsigned)strtoul(hex, &end, 16);
                if (end != hex + 4) {
                    free(s);
                    return jfail(j, "bad \\u escape");
                }
                j->p += 4;
                break;
            }
            default: free(s); return jfail(j, "bad escape in a string");
            }
        }
        if (n + 4 >= cap) {
            char *ns = realloc(s, cap *= 2);
            if (!ns) {
                free(s);
                return jfail(j, "out of memory");
            }
            s = ns;
        }
        if (cp < 0x80) {
            s[n++] = (char)cp;
        } else if (cp < 0x800) { /* \u escapes as UTF-8 (surrogates kept as they are) */
            s[n++] = (char)(0xc0 | (cp >> 6));
            s[n++] = (char)(0x80 | (cp & 0x3f));
        } else if (cp <= 0xffff && cp >= 0x100) {
            s[n++] = (char)(0xe0 | (cp >> 12));
            s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            s[n++] = (char)(0x80 | (cp & 0x3f));
        } else {
            s[n++] = (char)cp; /* a raw byte of the file */
        }
    }
    if (*j->p != '"') {
        free(s);
        return jfail(j, "unterminated string");
    }
    j->p++;
    s[n] = 0;
    *out = s;
    return 0;
}

static int jvalue(jparser *j, jval *v, int depth);

static int jpush(jparser *j, jval *v, char *key, jval *item)
{
    if ((v->n & (v->n - 1)) == 0) { /* grow at powers of two */
        int cap = v->n ? v->n * 2 : 1;
        jval *ni = realloc(v->items, (size_t)cap * sizeof *ni);
        if (!ni)
            return jfail(j, "out of memory");
        v->items = ni;
        if (v->t == J_OBJ) {
            char **nk = realloc(v->keys, (size_t)cap * sizeof *nk);
            if (!nk)
                return jfail(j, "out of memory");
            v->keys = nk;
        }
    }
    v->items[v->n] = *item;
    if (v->t == J_OBJ)
        v->keys[v->n] = key;
    v->n++;
    return 0;
}

static int jcontainer(jparser *j, jval *v, int depth, int obj)
{
    v->t = obj ? J_OBJ : J_ARR;
    j->p++;
    jskip(j);
    if (*j->p == (obj ? '}' : ']')) {
        j->p++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        jval item = {0};
        jskip(j);
        if (obj) {
            if (jstring(j, &key))
                return -1;
            jskip(j);
            if (*j->p != ':') {
                free(key);
                return jfail(j, "expected ':'");
            }
            j->p++;
        }
        if (jvalue(j, &item, depth + 1) || jpush(j, v, key, &item)) {
            free(key);
            jfree(&item);
            return -1;
        }
        jskip(j);
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p == (obj ? '}' : ']')) {
            j->p++;
            return 0;
        }
        return jfail(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int jvalue(jparser *j, jval *v, int depth)
{
    memset(v, 0, sizeof *v);
    if (depth > 64)
        return jfail(j, "nested too deeply");
    jskip(j);
    char c = *j->p;
    if (c == '{' || c == '[')
        return jcontainer(j, v, depth, c == '{');
    if (c == '"') {
        v->t = J_STR;
        return jstring(j, &v->str);
    }
    if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "false", 5) == 0) {
        v->t = J_BOOL;
        v->num = c == 't';
        j->p += c == 't' ? 4 : 5;
        return 0;
    }
    if (strncmp(j->p, "null", 4) == 0) {
        v->t = J_NULL;
        v->num = NAN;
        j->p += 4;
        return 0;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char *end;
        v->t = J_NUM;
        v->num = strtod(j->p, &end);
        if (end == j->p)
            return jfail(j, "bad number");
        j->p = end;
        return 0;
    }
    return jfail(j, c ? "unexpected character" : "unexpected end of file");
}

static const jval *jget(const jval *o, const char *key)
{
    if (!o || o->t != J_OBJ)
        return NULL;
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    return NULL;
}

static const char *jstr(const jval *o, const char *key)
{
    const jval *v = jget(o, key);
    return v && v->t == J_STR ? v->str : NULL;
}

/* -------------------------------------------------------------- compare */

#define MAX_COLUMNS 32

typedef struct column {
    int file;        /* index into the files */
    const jval *b;   /* the backend's object */
} column;

typedef struct metric {
    char path[200];
    double v[MAX_COLUMNS];
} metric;

struct nbb_compare {
    int nfiles;
    char **paths;
    jval *roots;
    char bench[32];
    int ncol;
    column cols[MAX_COLUMNS];
    metric *rows;
    int nrows, caprows;
    int dropped; /* metrics of the first column that not every column has */
};

void nbb_compare_free(nbb_compare *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nfiles; i++) {
        jfree(&c->roots[i]);
        free(c->paths[i]);
    }
    free(c->roots);
    free(c->paths);
    free(c->rows);
    free(c);
}

static nb_status read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nb_error(NB_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory reading %s", path);
    buf[n] = 0;
    *out = buf;
    return NB_OK;
}

/* The value at a dotted path below o ("accuracy.max_rel_error"), NAN if absent. */
static double value_at(const jval *o, const char *path)
{
    char part[200];
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len >= sizeof part)
            return NAN;
        memcpy(part, p, len);
        part[len] = 0;
        o = jget(o, part);
        if (!o)
            return NAN;
        if (!dot)
            return o->t == J_NUM ? o->num : NAN;
        p = dot + 1;
    }
}

static int add_metric(nbb_compare *c, const char *path)
{
    if (c->nrows == c->caprows) {
        int cap = c->caprows ? c->caprows * 2 : 128;
        metric *nr = realloc(c->rows, (size_t)cap * sizeof *nr);
        if (!nr)
            return -1;
        c->rows = nr;
        c->caprows = cap;
    }
    metric *m = &c->rows[c->nrows];
    snprintf(m->path, sizeof m->path, "%s", path);
    int everywhere = 1;
    for (int k = 0; k < c->ncol; k++) {
        m->v[k] = value_at(c->cols[k].b, path);
        if (isnan(m->v[k]))
            everywhere = 0;
    }
    if (everywhere)
        c->nrows++;
    else
        c->dropped++;
    return 0;
}

/* The numeric metrics below o, in its order: its numbers, then the median and
 * minimum of timed samples and the numbers of nested objects (not identity, conditions, the
 * per-op objects whose figures are also rows op_*, or arrays). */
static int collect(nbb_compare *c, const jval *o, const char *prefix, int depth)
{
    for (int i = 0; i < o->n; i++) { /* the object's own numbers first */
        char path[192];
        snprintf(path, sizeof path, "%.100s%.80s", prefix, o->keys[i]);
        if (o->items[i].t == J_NUM && add_metric(c, path))
            return -1;
    }
    for (int i = 0; i < o->n; i++) { /* then those of its objects */
        const jval *v = &o->items[i];
        const char *k = o->keys[i];
        char path[192];
        snprintf(path, sizeof path, "%.100s%.80s", prefix, k);
        if (v->t == J_OBJ && depth < 3 && strcmp(k, "identity") && strcmp(k, "conditions") && strcmp(k, "ops") &&
            strcmp(k, "where")) {
            if (jget(v, "samples")) {
                char sub[200];
                snprintf(sub, sizeof sub, "%s.median", path);
                if (add_metric(c, sub))
                    return -1;
                snprintf(sub, sizeof sub, "%s.min", path);
                if (add_metric(c, sub))
                    return -1;
                continue;
            }
            char pre[200];
            snprintf(pre, sizeof pre, "%s.", path);
            if (collect(c, v, pre, depth + 1))
                return -1;
        }
    }
    return 0;
}

nb_status nbb_compare_load(const char *const *paths, int n, nbb_compare **out)
{
    *out = NULL;
    if (n < 1)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "bench compare: no files given");
    nbb_compare *c = calloc(1, sizeof *c);
    if (!c)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    c->roots = calloc((size_t)n, sizeof *c->roots);
    c->paths = calloc((size_t)n, sizeof *c->paths);
    if (!c->roots || !c->paths) {
        nbb_compare_free(c);
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    nb_status s = NB_OK;
    for (int i = 0; i < n && !s; i++) {
        char *text = NULL;
        if ((s = read_file(paths[i], &text)))
            break;
        c->paths[i] = strdup(paths[i]);
        c->nfiles = i + 1;
        jparser j = {.p = text, .start = text};
        int bad = jvalue(&j, &c->roots[i], 0);
        if (!bad) {
            jskip(&j);
            if (*j.p)
                bad = jfail(&j, "text after the JSON value");
        }
        free(text);
        if (!c->paths[i]) {
            s = nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
            break;
        }
        const jval *root = &c->roots[i];
        const char *bench = jstr(root, "bench");
        const jval *fv = jget(root, "format_version");
        if (bad) {
            s = nb_error(NB_ERR_INVALID_ARGUMENT, "%s is not a noble bench JSON file: it is not JSON (%s)", paths[i],
                         j.err);
        } else if (root->t != J_OBJ || !bench) {
            s = nb_error(NB_ERR_INVALID_ARGUMENT,
                         "%s is not a noble bench JSON file (no \"bench\" member: write one with noble bench ... --json)",
                         paths[i]);
        } else if (!fv || fv->t != J_NUM) {
            s = nb_error(NB_ERR_INVALID_ARGUMENT,
                         "%s has no format_version: it was written by a noble older than format_version %d; "
                         "run the bench again with this noble",
                         paths[i], NBB_FORMAT_VERSION);
        } else if (fv->num != NBB_FORMAT_VERSION) {
            s = nb_error(NB_ERR_INVALID_ARGUMENT,
                         "%s has format_version %g; this noble reads format_version %d only: "
                         "run the bench again with the noble that reads it",
                         paths[i], fv->num, NBB_FORMAT_VERSION);
        } else if (i == 0) {
            snprintf(c->bench, sizeof c->bench, "%s", bench);
        } else if (strcmp(bench, c->bench) != 0) {
            s = nb_error(NB_ERR_INVALID_ARGUMENT,
                         "cannot compare %s (bench %s) with %s (bench %s): the %s and %s benches measure "
                         "different things; compare files of one bench",
                         paths[0], c->bench, paths[i], bench, c->bench, bench);
        }
        if (s)
            break;
        /* one column per backend measured; a file without backends[] is one column */
        const jval *bs = jget(root, "backends");
        int nb = bs && bs->t == J_ARR ? bs->n : 0;
        for (int k = 0; k < (nb ? nb : 1) && !s; k++) {
            if (c->ncol == MAX_COLUMNS)
                s = nb_error(NB_ERR_INVALID_ARGUMENT, "bench compare: more than %d backends in all", MAX_COLUMNS);
            else if (nb && bs->items[k].t != J_OBJ)
                s = nb_error(NB_ERR_INVALID_ARGUMENT, "%s: backends[%d] is not an object", paths[i], k);
            else
                c->cols[c->ncol++] = (column){i, nb ? &bs->items[k] : root};
        }
    }
    if (!s && collect(c, c->cols[0].b, "", 0))
        s = nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    if (s) {
        nbb_compare_free(c);
        return s;
    }
    *out = c;
    return NB_OK;
}

/* An identity string of a column: the backend's identity, else the file's. */
static const char *ident(const nbb_compare *c, int k, const char *key)
{
    const char *v = jstr(jget(c->cols[k].b, "identity"), key);
    if (!v)
        v = jstr(jget(&c->roots[c->cols[k].file], "identity"), key);
    if (!v)
        v = jstr(c->cols[k].b, key);
    return v ? v : "";
}

static void cell_str(FILE *f, const char *s, int width)
{
    int len = (int)strlen(s);
    if (len <= width)
        fprintf(f, " %-*s", width, s);
    else
        fprintf(f, " %.*s~", width - 1, s);
}

static void cell_num(FILE *f, double v, int width)
{
    char b[64];
    if (!isfinite(v))
        snprintf(b, sizeof b, "-");
    else if (v != 0 && (fabs(v) >= 1e6 || fabs(v) < 1e-3))
        snprintf(b, sizeof b, "%.4g", v);
    else
        snprintf(b, sizeof b, "%.4f", v);
    /* trim trailing zeros of fixed notation */
    if (strchr(b, '.') && !strchr(b, 'e')) {
        char *e = b + strlen(b) - 1;
        while (*e == '0')
            *e-- = 0;
        if (*e == '.')
            *e = 0;
    }
    fprintf(f, " %*s", width, b);
}

void nbb_compare_print(const nbb_compare *c, FILE *f)
{
    const int kw = 44, w = 14;
    fprintf(f, "noble bench compare: bench %s, format_version %d, %d column%s (one per backend measured), "
               "ratios against column 1\n\n",
            c->bench, NBB_FORMAT_VERSION, c->ncol, c->ncol == 1 ? "" : "s");
    for (int k = 0; k < c->ncol; k++)
        fprintf(f, "  [%d] %s: %s, %s backend (%s)\n", k + 1, c->paths[c->cols[k].file], ident(c, k, "name"),
                ident(c, k, "backend"), jstr(c->cols[k].b, "backend") ? jstr(c->cols[k].b, "backend") : "-");
    fprintf(f, "\n%-*s", kw, "");
    for (int k = 0; k < c->ncol; k++) {
        char h[32];
        snprintf(h, sizeof h, "[%d] %s", k + 1, ident(c, k, "backend"));
        cell_str(f, h, w);
        if (k > 0) {
            snprintf(h, sizeof h, "[%d]/[1]", k + 1);
            fprintf(f, " %*s", 8, h);
        }
    }
    fputc('\n', f);
    static const char *const ids[] = {"name", "device_type", "driver_name", "driver_info", "vulkan_api_version",
                                      "conformance_version", "cpu_model", "noble_version", "noble_commit",
                                      "vkfft_version", "fftw_version"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        int any = 0;
        for (int k = 0; k < c->ncol; k++)
            any |= ident(c, k, ids[i])[0] != 0;
        if (!any)
            continue;
        char key[64];
        snprintf(key, sizeof key, "identity.%s", ids[i]);
        fprintf(f, "%-*s", kw, key);
        for (int k = 0; k < c->ncol; k++) {
            const char *v = ident(c, k, ids[i]);
            if (strcmp(ids[i], "noble_commit") == 0 && strlen(v) > 12) {
                char s12[13];
                memcpy(s12, v, 12);
                s12[12] = 0;
                cell_str(f, s12, w);
            } else {
                cell_str(f, v[0] ? v : "-", w);
            }
            if (k > 0)
                fprintf(f, " %8s", "");
        }
        fputc('\n', f);
    }
    static const char *const conds[] = {"rounds", "warmup_rounds", "timestamp_period_ns", "timestamp_valid_bits",
                                        "length", "quick"};
    for (size_t i = 0; i < sizeof conds / sizeof *conds; i++) {
        char key[96];
        int any = 0;
        double v[MAX_COLUMNS];
        for (int k = 0; k < c->ncol; k++) {
            snprintf(key, sizeof key, "conditions.%s", conds[i]);
            v[k] = value_at(c->cols[k].b, key);
            any |= !isnan(v[k]);
        }
        if (!any)
            continue;
        fprintf(f, "%-*s", kw, key);
        for (int k = 0; k < c->ncol; k++) {
            cell_num(f, v[k], w);
            if (k > 0)
                fprintf(f, " %8s", "");
        }
        fputc('\n', f);
    }
    fputc('\n', f);
    for (int r = 0; r < c->nrows; r++) {
        const metric *m = &c->rows[r];
        if (strlen(m->path) > (size_t)kw)
            fprintf(f, "%s\n%-*s", m->path, kw, "");
        else
            fprintf(f, "%-*s", kw, m->path);
        for (int k = 0; k < c->ncol; k++) {
            cell_num(f, m->v[k], w);
            if (k > 0) {
                char b[32];
                if (m->v[0] != 0 && isfinite(m->v[0]) && isfinite(m->v[k]))
                    snprintf(b, sizeof b, "%.3g", m->v[k] / m->v[0]);
                else
                    snprintf(b, sizeof b, "-");
                fprintf(f, " %8s", b);
            }
        }
        fputc('\n', f);
    }
    if (c->dropped)
        fprintf(f, "\n(%d metric%s of column 1 not in every column left out)\n", c->dropped,
                c->dropped == 1 ? "" : "s");
}
