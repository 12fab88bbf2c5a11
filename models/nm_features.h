/*
 * nm_features.h - electrophysiology features of somatic voltage traces
 * (part of the models layer, prefix nm_; included by nm_models.h).
 *
 * One C implementation serves the CLI, the Lua face and the NEURON generator
 * (through ctypes: build/models/libnm_features.so). Definitions are eFEL's
 * (5.7.16, default settings; docs/dataset.md writes each one down, and
 * tests/test_features.c holds them to eFEL's own numbers). Units: mV, ms, Hz, pA.
 *
 * A trace is n samples v[0..n-1] (mV) at times i*dt (ms); the current step
 * runs from stim_start to stim_end (ms). A feature that is undefined for a
 * trace (time_to_first_spike without a spike, sag_amplitude of a
 * depolarising step, ...) is NaN, never an error. Errors (NULL pointers, a
 * step outside the trace, dt <= 0) return NB_ERR_INVALID_ARGUMENT with a
 * message in nb_last_error(). Nothing here prints or exits.
 */
#ifndef NM_FEATURES_H
#define NM_FEATURES_H

#include "nb_runtime.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Per-trace features, in this canonical order. Each carries eFEL's name and
 * computes eFEL's definition (eFEL 5.7.16, default settings) on the trace
 * resampled as eFEL resamples it; where eFEL gives one value per spike, the
 * feature is the mean over spikes (docs/dataset.md, "Features"). */
typedef enum nm_feature {
    NM_FEAT_SPIKECOUNT = 0,                  /* spikes in the whole trace */
    NM_FEAT_TIME_TO_FIRST_SPIKE,             /* ms, first peak - stim_start */
    NM_FEAT_AP1_PEAK,                        /* mV, first peak */
    NM_FEAT_AP1_WIDTH,                       /* ms, first spike's half width (level: peak/AHP minimum after) */
    NM_FEAT_MEAN_AP_AMPLITUDE,               /* mV, mean(peak - AP begin) over spikes in the step */
    NM_FEAT_AHP_DEPTH,                       /* mV, mean(AHP minimum - voltage_base) */
    NM_FEAT_AHP1_DEPTH_FROM_PEAK,            /* mV, first peak - first AHP minimum */
    NM_FEAT_AHP_TIME_FROM_PEAK,              /* ms, mean(AHP time - peak time) */
    NM_FEAT_INV_FIRST_ISI,                   /* Hz, 1000 / first ISI; NaN with < 2 spikes */
    NM_FEAT_MEAN_FREQUENCY,                  /* Hz, spikes in step / (last one - stim_start) */
    NM_FEAT_VOLTAGE_BASE,                    /* mV, mean over [0.9 stim_start, stim_start] */
    NM_FEAT_STEADY_STATE_VOLTAGE,            /* mV, mean after stim_end */
    NM_FEAT_STEADY_STATE_VOLTAGE_STIMEND,    /* mV, mean over the last 10% of the step */
    NM_FEAT_DECAY_TIME_CONSTANT_AFTER_STIM,  /* ms, exponential fit 1-10 ms after stim_end */
    NM_FEAT_DEPOL_BLOCK,                     /* 1 no block; NaN (eFEL's None) block or no rise */
    NM_FEAT_SAG_AMPLITUDE,                   /* mV, ss_stimend - minimum in step (hyperpolarising) */
    NM_FEAT_DEPOL_BLOCK_BOOL,                /* 1 block (depol_block NaN), 0 none */
    NM_FEAT_SPIKECOUNT_STIMINT,              /* spikes whose peak lies in [stim_start, stim_end] */
    NM_FEAT_COUNT
} nm_feature;

typedef struct nm_feature_opts {
    double threshold;         /* spike detection threshold, mV (eFEL Threshold, -20) */
    double dvdt_threshold;    /* AP begin: dV/dt threshold, mV/ms (eFEL DerivativeThreshold, 10) */
    int derivative_window;    /* AP begin: samples it must hold for (eFEL DerivativeWindow, 3) */
    double interp_step;       /* resampling step, ms (eFEL interp_step, 0.1); 0: the samples as given */
    double decay_start;       /* decay fit window after stim_end, ms (1) */
    double decay_end;         /* (10) */
} nm_feature_opts;

/* The defaults above. */
nm_feature_opts nm_feature_opts_default(void);
/* eFEL name and unit of feature i ("" for an unknown index). */
const char *nm_feature_name(int i);
const char *nm_feature_unit(int i);
/* 1 if NOBLE's evaluation uses feature i on spiking traces, 2 on
 * non-spiking ones, 3 on both, 0 on neither (NOBLE.md, "Evaluation";
 * depol_block_bool stands for depol_block there). */
int nm_feature_scope(int i);

/* All NM_FEAT_COUNT features of one trace into out[]. opts may be NULL. */
nb_status nm_features(const double *v, size_t n, double dt, double stim_start, double stim_end,
                      const nm_feature_opts *opts, double out[NM_FEAT_COUNT]);

/* Peak times (ms) of the spikes in the trace, eFEL's way (eFEL peak_time,
 * on the trace resampled at 0.1 ms as nm_features does): a spike is an upward
 * crossing of threshold paired with the next downward one; its peak is the
 * maximum in between. Writes at most cap times; *count gets the total. */
nb_status nm_spike_times(const double *v, size_t n, double dt, double threshold, double *times,
                         size_t cap, size_t *count);

/* Spikes (as nm_spike_times finds them) whose peak lies in [t0, t1] ms.
 * With t0, t1 = stim_start, stim_end this is Spikecount_stimint, the count
 * behind every f-I curve of the project (docs/dataset.md). */
nb_status nm_spike_count_in(const double *v, size_t n, double dt, double threshold, double t0,
                            double t1, size_t *count);

/* s_thr: least-squares slope (Hz/pA) of firing rate against amplitude over the
 * points with amplitude in [i_thr, i_thr + span] (at least 2 distinct
 * amplitudes, else NB_ERR_INVALID_ARGUMENT). */
nb_status nm_fi_slope(const double *amp_pA, const double *rate_Hz, size_t n, double i_thr,
                      double span, double *slope);

#ifdef __cplusplus
}
#endif

#endif
