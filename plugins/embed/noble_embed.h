/*
 * noble_embed.h - the embedding ABI of noble (prefix noble_): the one
 * installed header, for simulators and programs that run a trained NOBLE
 * checkpoint as a black box (docs/plugin-abi.md). Link with libnoble
 * (pkg-config noble, or CMake find_package(noble) and noble::noble).
 *
 * What NOBLE is: an operator that maps a whole window (the checkpoint's,
 * e.g. 4224 samples at 0.12 ms, 506.9 ms) of a current STEP injected into
 * the soma, plus a point (I_thr pA, s_thr Hz/pA) of the neuron embedding, to
 * the somatic voltage over that window. It is open-loop: it cannot answer
 * input that arrives during the window (synaptic events, a second step, a
 * ramp), and it knows only the step placement it was trained on (onset and
 * duration fixed by the checkpoint). Requests outside that are refused with
 * NOBLE_ERR_UNSUPPORTED and a message that says why.
 *
 * Units: current pA, voltage mV, time ms, s_thr Hz/pA.
 *
 * Errors: every function that can fail returns a noble_status; on failure a
 * message is kept for the calling thread (noble_last_error). The library
 * never prints and never exits.
 *
 * Threads: a noble_model is used by one thread at a time. Separate models
 * may be used from separate threads at once (the CPU backend's kernels then
 * take turns on one process-wide pool of threads). noble_version*,
 * noble_status_name and noble_last_error may be called from any thread.
 */
#ifndef NOBLE_EMBED_H
#define NOBLE_EMBED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library version this header came with, and the version of this ABI
 * (functions, structs, statuses; raised on any incompatible change). */
#define NOBLE_VERSION_MAJOR 0
#define NOBLE_VERSION_MINOR 1
#define NOBLE_VERSION_PATCH 0
#define NOBLE_ABI_VERSION 1

typedef enum noble_status {
    NOBLE_OK = 0,
    NOBLE_ERR_ARGUMENT = 1,    /* a bad argument: NULL, a non-finite number, an unknown backend, a bad index */
    NOBLE_ERR_IO = 2,          /* the checkpoint cannot be read (missing, not HDF5, not a noble checkpoint) */
    NOBLE_ERR_CHECKPOINT = 3,  /* it can be read but lacks what prediction needs (embedding, window) */
    NOBLE_ERR_UNSUPPORTED = 4, /* a request NOBLE cannot represent (step placement, duration, dt) */
    NOBLE_ERR_DEVICE = 5,      /* no such device or backend, or the device failed */
    NOBLE_ERR_MEMORY = 6       /* host or device memory exhausted */
} noble_status;

/* The running library's version: returns NOBLE_ABI_VERSION of the library
 * (compare it with this header's); major, minor, patch may be NULL. */
int noble_version(int *major, int *minor, int *patch);
/* "0.1.0 (ABI 1)". */
const char *noble_version_string(void);
/* Short name of a status, e.g. "unsupported". */
const char *noble_status_name(noble_status s);
/* Message of the calling thread's last failure ("" if none). */
const char *noble_last_error(void);

typedef struct noble_model noble_model;

/* Opens a checkpoint (an HDF5 file written by noble train or noble model
 * export) for prediction. backend: "auto" (NULL too; NOBLE_BACKEND if set,
 * else Vulkan on a GPU, else the CPU backend), "cpu" or "vulkan"; device: a
 * Vulkan device index, -1 to choose (NOBLE_DEVICE if set, else the first
 * GPU); threads: the CPU backend's threads, 0 for NOBLE_THREADS or the cores.
 * On failure *out is NULL. */
noble_status noble_open(const char *checkpoint, const char *backend, int device, int threads, noble_model **out);
/* Frees the model (NULL is allowed). */
void noble_close(noble_model *m);

/* What a checkpoint can do. */
typedef struct noble_info {
    uint32_t samples;        /* samples in the window */
    double dt_ms;            /* their spacing */
    double window_ms;        /* samples * dt_ms */
    double step_start_ms;    /* the step's onset, from the window's start (the only onset accepted) */
    double step_duration_ms; /* its duration (the only duration accepted) */
    /* The ranges the embedding's scaler was fitted on (the training models):
     * values outside are extrapolation, accepted but untrained. */
    double amplitude_min_pA, amplitude_max_pA;
    double I_thr_min_pA, I_thr_max_pA;
    double s_thr_min, s_thr_max; /* Hz/pA */
    uint32_t hof_models;     /* hall-of-fame models the checkpoint records (its training models), 0 if none */
    uint32_t batch;          /* cells run through the operator at a time */
    char backend[16];        /* "cpu" or "vulkan" */
    char device[256];        /* the device's name */
    char cell[64];           /* the training dataset's cell ("" when not recorded) */
} noble_info;
noble_status noble_get_info(const noble_model *m, noble_info *out);

/* The embedding point of recorded HoF model index (0 .. hof_models-1). */
noble_status noble_hof_model(const noble_model *m, uint32_t index, double *I_thr_pA, double *s_thr);

/* One cell of a batch. */
typedef struct noble_cell {
    double amplitude_pA;     /* the step's amplitude (negative: hyperpolarising) */
    int32_t hof_model;       /* >= 0: that recorded HoF model's point; -1: the point below */
    double I_thr_pA;         /* the embedding point when hof_model is -1 */
    double s_thr;            /* Hz/pA */
} noble_cell;

/* Samples of a trace at dt_ms: t_k = k dt_ms for every t_k within the
 * window's span [0, (samples - 1) * model dt]; 0 (with a message) for a
 * dt that is not finite and positive or that gives fewer than 2 samples. */
uint32_t noble_output_samples(const noble_model *m, double dt_ms);

/* Predicts n cells, each a step of its amplitude from delay_ms to delay_ms +
 * duration_ms (both from the start of the window and of the output; they
 * must place the step on the window's samples where the checkpoint's step
 * lies, i.e. round to the same samples as step_start_ms and
 * step_start_ms + step_duration_ms: NOBLE was trained on that placement
 * only), into:
 *   voltage[n][noble_output_samples(m, dt_ms)]  mV at t_k = k dt_ms, linearly
 *       interpolated from the window's samples (exact where t_k falls on one);
 *   spike_times[n][spike_cap] (may be NULL when spike_cap is 0)  ms, the peak
 *       time of each spike, found as the project's features find them
 *       (nm_spike_times: an upward crossing of -20 mV paired with the next
 *       downward one, on the window's trace resampled at 0.1 ms, eFEL's
 *       peak_time), at most spike_cap per cell;
 *   spike_counts[n] (may be NULL)  the spikes of each cell (possibly more
 *       than spike_cap).
 * Nothing is written unless every cell is valid. */
noble_status noble_predict(noble_model *m, const noble_cell *cells, uint32_t n, double delay_ms,
                           double duration_ms, double dt_ms, float *voltage, double *spike_times,
                           uint32_t spike_cap, uint32_t *spike_counts);

#ifdef __cplusplus
}
#endif
#endif
