/* nb_bench.h - benchmarks of noble (prefix nbb_): they measure, they never
 * assert. Results go to a report printed as text or as JSON. */
#ifndef NB_BENCH_H
#define NB_BENCH_H

#include "nb_runtime.h"

#include <stdio.h>

/* ---------------------------------------------------------------- timing */

double nbb_now_ms(void);             /* monotonic clock, ms */
double nbb_median(double *v, int n); /* sorts v */

/* The summary of a set of timed rounds; v is left as it is. Quartiles by
 * linear interpolation between order statistics (numpy's default). */
typedef struct nbb_stats {
    int n;
    double median, q1, q3, min, max;
} nbb_stats;
void nbb_stats_of(const double *v, int n, nbb_stats *out);

/* The version of the bench JSON files; `noble bench compare` reads only
 * files of this version (docs/benchmarks.md, "File format"). */
#define NBB_FORMAT_VERSION 2

/* ------------------------------------------------------------ JSON writer */

typedef struct nbb_json {
    FILE *f;
    int depth;
    int count[32]; /* members written at each depth */
} nbb_json;

void nbb_json_init(nbb_json *j, FILE *f);
void nbb_json_object(nbb_json *j, const char *key); /* key NULL inside arrays and at the top */
void nbb_json_array(nbb_json *j, const char *key);
void nbb_json_end(nbb_json *j, char close);          /* '}' or ']' */
void nbb_json_str(nbb_json *j, const char *key, const char *v);
void nbb_json_num(nbb_json *j, const char *key, double v);
void nbb_json_int(nbb_json *j, const char *key, long long v);
void nbb_json_bool(nbb_json *j, const char *key, int v);
/* Writes the facts of a device as members of the current object. */
void nbb_json_device(nbb_json *j, const nb_device_info *d);

/* ---------------------------------------------------------------- report */

typedef struct nbb_report nbb_report;

nbb_report *nbb_report_new(const char *bench);
void nbb_report_str(nbb_report *r, const char *key, const char *value);
/* A measured number; the unit is also part of the key (..._gbps, ..._us). */
void nbb_report_num(nbb_report *r, const char *key, double value, const char *unit, const char *note);
void nbb_report_print(const nbb_report *r, FILE *f, int json);
void nbb_report_free(nbb_report *r);
/* Appends every row of src to r. */
void nbb_report_append(nbb_report *r, const nbb_report *src);
/* The same, rows that only the JSON shows (a copy of a child's figures kept
 * where readers of the one-backend layout look for them). */
void nbb_report_append_json_only(nbb_report *r, const nbb_report *src);
/* Adds child (owned from now on) to r's array `array` (one array per
 * report): JSON prints each child as an object of that array after r's
 * rows, the text as a section titled with the child's bench name. */
void nbb_report_add_child(nbb_report *r, const char *array, nbb_report *child);
/* A nested object under key, written where it was added (JSON: an object;
 * text: an indented section). Owned by r; NULL when out of memory. The
 * appends above copy number and string rows only, never nested ones. */
nbb_report *nbb_report_object(nbb_report *r, const char *key);
/* Timed rounds, every one kept: JSON {"unit", "n", "samples": [...],
 * "median", "q1", "q3", "min", "max"}; text: median, quartiles, minimum. */
void nbb_report_samples(nbb_report *r, const char *key, const double *v, int n, const char *unit, const char *note);
/* A plain array of numbers (batch sizes). */
void nbb_report_numbers(nbb_report *r, const char *key, const double *v, int n, const char *note);
/* A number row's value; NAN when r has no such row. */
double nbb_report_get(const nbb_report *r, const char *key);

/* ------------------------------------------------------------- backends */

/* Which backends a bench measures (--backend): every one present (the
 * default), the one `auto` picks, the Vulkan device the runtime would
 * choose, or the CPU backend. */
typedef enum nbb_backend_sel { NBB_BACKEND_ALL = 0, NBB_BACKEND_AUTO, NBB_BACKEND_VULKAN, NBB_BACKEND_CPU } nbb_backend_sel;
/* "all", "auto", "vulkan", "cpu" (NULL: all); 0 when s is none of them. */
int nbb_backend_parse(const char *s, nbb_backend_sel *out);

#define NBB_MAX_TARGETS 8
/* One backend to measure: the options that open it and a name for it
 * ("cpu", "vulkan" or "vulkan:1" where there are several devices). */
typedef struct nbb_target {
    nb_context_options options;
    char name[32];
    nb_backend backend;
    int is_default; /* the one nb_context_create(NULL) opens */
} nbb_target;
/* The backends sel names that can be opened here, the default one first
 * (out has room for NBB_MAX_TARGETS).
 * "all": every Vulkan device a context can be made on, and the CPU backend.
 * NB_ERR_NO_DEVICE when sel names a backend that cannot be opened. */
nb_status nbb_targets(nbb_backend_sel sel, nbb_target *out, uint32_t cap, uint32_t *n);
/* Writes the backend and device rows every bench starts a backend with,
 * and the backend's "identity" object (device, driver, versions). */
void nbb_report_backend(nbb_report *r, const nbb_target *t, nb_context *ctx);
/* The "identity" object alone (what nbb_report_backend adds after its rows). */
void nbb_report_identity(nbb_report *r, nb_context *ctx);
/* Writes r's rows (nested objects included) as members of j's current object. */
void nbb_json_report_rows(nbb_json *j, const nbb_report *r);
/* The file's own rows every bench starts with: "format_version" and the
 * "identity" object of the software and host (noble's version and commit,
 * VkFFT's and FFTW's versions, CPU model and cores). */
void nbb_report_header(nbb_report *r);
/* A backend's "conditions" object (how its figures were timed: rounds,
 * warm-up, clocks, the timestamp period and valid bits), returned for the
 * bench to add its own (batch sizes, lengths); NULL when out of memory. */
nbb_report *nbb_report_conditions(nbb_report *r, nb_context *ctx, int rounds, int warmup);

/* ------------------------------------------------------------- accuracy */

/* The accuracy line: the NOBLE preset's forward at batch 1 on a fixed input
 * against the double-precision reference. Prepare runs the reference once
 * (at `length` samples); measure runs the forward on a context opened with o
 * and writes an "accuracy" object into r. */
typedef struct nbb_accuracy nbb_accuracy;
nb_status nbb_accuracy_prepare(uint32_t length, nbb_accuracy **out);
nb_status nbb_accuracy_measure(const nbb_accuracy *a, const nb_context_options *o, nbb_report *r);
void nbb_accuracy_free(nbb_accuracy *a);

/* -------------------------------------------------------------- compare */

/* `noble bench compare`: bench JSON files of format NBB_FORMAT_VERSION side
 * by side, one column per backend object of each file (a file without
 * backends[] is one column), rows for the numeric metrics every column has,
 * each column's ratio to the first. Load refuses (NB_ERR_INVALID_ARGUMENT,
 * with a message) a file that is not JSON or not a noble bench file, one of
 * another format version, and files of different benches. */
typedef struct nbb_compare nbb_compare;
nb_status nbb_compare_load(const char *const *paths, int n, nbb_compare **out);
void nbb_compare_print(const nbb_compare *c, FILE *f);
void nbb_compare_free(nbb_compare *c);

/* --------------------------------------------------------------- benches */

typedef struct nbb_options {
    int quick;       /* smaller sizes and fewer rounds (tests, CI) */
    int rounds;      /* 0: default (5; 2 when quick) */
    nbb_backend_sel backend;
    int fftw_estimate; /* runtime: FFTW's own pair with FFTW_ESTIMATE (no minutes of planning) */
} nbb_options;

/* `noble bench runtime`: the device's ceilings that later benches compare
 * themselves against, and FFT throughput against FFTW. */
nb_status nbb_runtime(const nbb_options *o, nbb_report *r);

/* The device ceilings other benches compare themselves with. */
typedef struct nbb_ceilings {
    double copy_shader_gbps; /* the better of the two below: the bandwidth ceiling */
    double copy_storage_gbps; /* a vec4 copy kernel, bytes read + written per second */
    double copy_texel_gbps;   /* the same reading texels (NB_TEXEL); 0 where a texel buffer can't hold it */
    double copy_vkcmd_gbps;  /* vkCmdCopyBuffer */
    double fma_gflops;       /* fp32 FMA */
    uint64_t bytes;          /* copy size used */
    /* every timed round (ms) of the four: copy storage, copy texel (n 0
     * where not measured), nb_cmd_copy, FMA */
    int rounds, texel_rounds;
    double copy_storage_ms[64], copy_texel_ms[64], copy_vkcmd_ms[64], fma_ms[64];
} nbb_ceilings;
nb_status nbb_measure_ceilings(nb_context *ctx, int quick, int rounds, nbb_ceilings *out);
/* What the ceilings above are on ctx's backend, for the notes. */
const char *nbb_ceiling_copy_what(nb_context *ctx);
const char *nbb_ceiling_fma_what(nb_context *ctx);

typedef struct nbb_operator_options {
    int quick;           /* length 520, batches 1,2, one round */
    int rounds;          /* 0: 3 (1 when quick) */
    uint32_t length;     /* 0: 8580 (520 when quick) */
    const char *batches; /* "1,8,16,32,64"; the last is the main batch */
    int no_torch;        /* skip the PyTorch reference */
    nbb_backend_sel backend;
} nbb_operator_options;
/* `noble bench operator`: the NOBLE preset's throughput, memory and per-op
 * efficiency, and the ratios to PyTorch on the same machine. */
nb_status nbb_operator(const nbb_operator_options *o, nbb_report *r);

/* ------------------------------------------------------ bench population */

typedef struct nbb_population_options {
    const char *checkpoint; /* NULL: models/pretrained/pvalb-reduced.h5 in the source tree */
    const char *dataset;    /* NULL: data/pvalb60.h5 in the source tree when there; "": none */
    const char *batches;    /* "1,8,32,128" ("1,4" when quick); the largest is built */
    int rounds;             /* 0: 3 (1 when quick) */
    int quick;
    nbb_backend_sel backend;
} nbb_population_options;

#define NBB_POPULATION_MAX_BATCHES 16

typedef struct nbb_population_point {
    uint32_t batch;
    double ms_per_call;     /* median of the rounds of nm_model_predict */
    double traces_per_s, ms_per_trace;
    double device_mib;      /* nm_model_device_bytes after the rounds */
} nbb_population_point;

/* One backend's figures. */
typedef struct nbb_population_backend {
    char backend[32];                   /* "cpu", "vulkan", "vulkan:1" */
    int is_default;                     /* the backend nb_context_create(NULL) opens */
    char device[256], device_type[32], driver[256], api_version[32], fft_backend[32];
    uint32_t threads;                   /* CPU backend: worker threads; 0 for Vulkan */
    uint32_t max_batch;                 /* < max_batch_asked: halved after out of memory */
    uint32_t n_points, best;            /* best: index of the highest traces/s */
    nbb_population_point points[NBB_POPULATION_MAX_BATCHES];
    double speedup_median, speedup_mean; /* NEURON s per trace / noble's at the best batch */
    char note[256];                     /* batch halved */
    nbb_report *extra;                  /* the format-2 blocks: identity, conditions, timings, accuracy;
                                           owned, freed by nbb_population_clear */
} nbb_population_backend;

typedef struct nbb_population_result {
    char checkpoint[512], dataset[512]; /* dataset "" when none */
    uint64_t parameters;
    uint32_t width, blocks, modes, length, lifting_channels, projection_channels, mlp_channels;
    uint32_t stride;
    char stride_from[64];
    double dt_ms, window_ms, step_on_ms, step_off_ms, amplitude_pA; /* the synthetic window */
    char codes_from[96];
    uint32_t training_models;
    double I_thr_pA[2], s_thr_Hz_per_pA[2]; /* ranges the codes are drawn from */
    int rounds;
    uint32_t max_batch_asked;
    int has_neuron;                      /* 0: no dataset, no comparison */
    uint32_t neuron_traces;
    double neuron_trace_ms, neuron_median_s, neuron_mean_s;
    uint32_t n_backends;                 /* measured, the default first where it was */
    nbb_population_backend backends[NBB_MAX_TARGETS];
    char note[512];                      /* what was left out (no dataset) */
} nbb_population_result;

/* `noble bench population`: synthetic neurons per second through the
 * embedded predict path of a trained checkpoint, against NEURON's wall time
 * per trace recorded in the dataset. */
nb_status nbb_population(const nbb_population_options *o, nbb_population_result *res);
/* Frees what nbb_population allocated in res (after an error too). */
void nbb_population_clear(nbb_population_result *res);
/* A table for people, or JSON (the writer above). */
void nbb_population_print(const nbb_population_result *res, FILE *f, int json);

#endif
