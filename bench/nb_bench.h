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
    double copy_shader_gbps; /* a vec4 copy kernel, bytes read + written per second */
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

#endif
