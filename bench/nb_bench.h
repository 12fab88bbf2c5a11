/* nb_bench.h - benchmarks of noble (prefix nbb_): they measure, they never
 * assert. Results go to a report printed as text or as JSON. */
#ifndef NB_BENCH_H
#define NB_BENCH_H

#include "nb_runtime.h"

#include <stdio.h>

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

/* --------------------------------------------------------------- benches */

typedef struct nbb_options {
    int quick;       /* smaller sizes and fewer rounds (tests, CI) */
    int rounds;      /* 0: default (5; 2 when quick) */
} nbb_options;

/* `noble bench runtime`: the device's ceilings that later benches compare
 * themselves against, and FFT throughput against FFTW. */
nb_status nbb_runtime(const nbb_options *o, nbb_report *r);

#endif
