/* nb_bench.h - benchmarks of noble (prefix nbb_): they measure, they never
 * assert. Results go to a report printed as text or as JSON. */
#ifndef NB_BENCH_H
#define NB_BENCH_H

#include "nb_runtime.h"

#include <stdio.h>

/* ---------------------------------------------------------------- timing */

double nbb_now_ms(void);             /* monotonic clock, ms */
double nbb_median(double *v, int n); /* sorts v */

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

/* --------------------------------------------------------------- benches */

typedef struct nbb_options {
    int quick;       /* smaller sizes and fewer rounds (tests, CI) */
    int rounds;      /* 0: default (5; 2 when quick) */
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
} nbb_ceilings;
nb_status nbb_measure_ceilings(nb_context *ctx, int quick, int rounds, nbb_ceilings *out);

typedef struct nbb_operator_options {
    int quick;           /* length 520, batches 1,2, one round */
    int rounds;          /* 0: 3 (1 when quick) */
    uint32_t length;     /* 0: 8580 (520 when quick) */
    const char *batches; /* "1,8,16,32,64"; the last is the main batch */
    int no_torch;        /* skip the PyTorch reference */
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
} nbb_population_options;

#define NBB_POPULATION_MAX_BATCHES 16

typedef struct nbb_population_point {
    uint32_t batch;
    double ms_per_call;     /* median of the rounds of nm_model_predict */
    double traces_per_s, ms_per_trace;
    double device_mib;      /* nm_model_device_bytes after the rounds */
} nbb_population_point;

typedef struct nbb_population_result {
    char checkpoint[512], dataset[512]; /* dataset "" when none */
    char device[256], device_type[32], driver[256], api_version[32];
    uint64_t parameters;
    uint32_t width, blocks, modes, length, lifting_channels, projection_channels, mlp_channels;
    uint32_t stride;
    char stride_from[64];
    double dt_ms, window_ms, step_on_ms, step_off_ms, amplitude_pA; /* the synthetic window */
    char codes_from[96];
    uint32_t training_models;
    double I_thr_pA[2], s_thr_Hz_per_pA[2]; /* ranges the codes are drawn from */
    int rounds;
    uint32_t max_batch_asked, max_batch; /* max_batch < asked: halved after out of memory */
    uint32_t n_points, best;            /* best: index of the highest traces/s */
    nbb_population_point points[NBB_POPULATION_MAX_BATCHES];
    int has_neuron;                      /* 0: no dataset, no comparison */
    uint32_t neuron_traces;
    double neuron_trace_ms, neuron_median_s, neuron_mean_s;
    double speedup_median, speedup_mean; /* NEURON s per trace / noble's at the best batch */
    char note[512];
} nbb_population_result;

/* `noble bench population`: synthetic neurons per second through the
 * embedded predict path of a trained checkpoint, against NEURON's wall time
 * per trace recorded in the dataset. */
nb_status nbb_population(const nbb_population_options *o, nbb_population_result *res);
/* A table for people, or JSON (the writer above). */
void nbb_population_print(const nbb_population_result *res, FILE *f, int json);

#endif
