/*
 * nm_models.h - the public interface of noble's domain layer (prefix nm_):
 * the Fourier Neural Operator of NOBLE, forward and backward on the runtime,
 * its double-precision CPU reference, the loss, AdamW, and checkpoints.
 *
 * Errors follow the runtime: functions return an nb_status and set the
 * message read by nb_last_error(). Nothing here prints or exits.
 *
 * Tensors are row-major [batch][channels][length] float32, like PyTorch's
 * (B, C, N). Units: input current in pA, voltage in mV (the operator itself
 * is unit-agnostic; datasets and checkpoints record the units).
 */
#ifndef NM_MODELS_H
#define NM_MODELS_H

#include "nb_runtime.h"
#include "nm_features.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- config */

typedef struct nm_config {
    uint32_t in_channels;          /* data channels into the network (23 for NOBLE) */
    uint32_t out_channels;         /* 1 */
    uint32_t width;                /* channels in the FNO blocks (24) */
    uint32_t blocks;               /* FNO blocks (12) */
    uint32_t modes;                /* Fourier modes kept, at most length/2 (129) */
    uint32_t length;               /* samples per trace; an FFT-exact length (8580) */
    uint32_t lifting_channels;     /* hidden channels of the lifting MLP (48) */
    uint32_t projection_channels;  /* hidden channels of the projection MLP (96) */
    uint32_t mlp_channels;         /* hidden channels of each block's channel MLP (12) */
    uint32_t grid;                 /* 1: append the grid channel linspace(0,1,N+1)[:-1] */
    uint32_t last_block_activation;/* 0: no GELU after the last block (NOBLE) */
    char preset[32];               /* name of the preset it came from, or "" */
} nm_config;

/* Presets: "noble" (the published configuration: 1,803,001 parameters at any
 * length), "small" (a few thousand parameters, for tests and examples). The
 * length is set separately (nm_config.length); presets use 8580. */
nb_status nm_config_preset(const char *name, nm_config *c);
/* Checks a configuration; the message names the field that is wrong. */
nb_status nm_config_check(const nm_config *c);
/* Derived sizes: channels into the lifting (in + grid). */
uint32_t nm_config_lifting_in(const nm_config *c);

/* One parameter tensor: its name and shape as in neuraloperator's FNO
 * (docs/checkpoint.md) and where it sits in the flat parameter buffer. */
typedef struct nm_param {
    char name[64];
    uint32_t rank;
    uint32_t shape[4];  /* PyTorch shape; complex tensors without the (re, im) axis */
    int complex;        /* complex64: 2 floats per element, interleaved */
    uint64_t offset;    /* first float in the flat buffer */
    uint64_t count;     /* floats (2 per complex element) */
} nm_param;

/* Number of parameter tensors; fills out[] up to cap. */
uint32_t nm_param_table(const nm_config *c, nm_param *out, uint32_t cap);
/* Real parameters in all (a complex weight counts as two). */
uint64_t nm_param_count(const nm_config *c);

/* Fills a flat parameter vector the way PyTorch initialises the same modules
 * (Conv1d: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); spectral weights: complex
 * normal with std sqrt(2/(in+out)); spectral bias: normal with that std;
 * soft gates: 1), from a seed. */
void nm_params_init(const nm_config *c, uint64_t seed, float *params);

/* ------------------------------------------------------------------- rng */

/* xoshiro256**: deterministic, portable; its state is saved in checkpoints. */
typedef struct nm_rng {
    uint64_t s[4];
} nm_rng;
void nm_rng_seed(nm_rng *r, uint64_t seed);
uint64_t nm_rng_next(nm_rng *r);
double nm_rng_uniform(nm_rng *r); /* [0, 1) */
double nm_rng_normal(nm_rng *r);  /* standard normal */

/* ------------------------------------------------------- CPU reference */

/* A plain double-precision implementation of the operator, its gradients,
 * the loss and AdamW: the yardstick the GPU is checked against. */
typedef struct nm_ref nm_ref;

nb_status nm_ref_create(const nm_config *c, uint32_t batch, nm_ref **out);
void nm_ref_destroy(nm_ref *r);
/* Parameters as a flat vector (nm_param_table's layout). */
void nm_ref_set_params(nm_ref *r, const double *params);
/* y[B][out][N] = operator(x[B][in][N]); keeps what the backward needs. */
void nm_ref_forward(nm_ref *r, const double *x, uint32_t batch, double *y);
/* Given dL/dy, accumulates dL/dparams into grad (flat, zero it first) and,
 * when gx is not NULL, writes dL/dx. Uses the last forward's activations. */
void nm_ref_backward(nm_ref *r, const double *gy, double *grad, double *gx);

/* Relative Lp loss summed over traces: sum_b ||yhat_b - y_b||_p / ||y_b||_p,
 * p = 2 or 4; grad (may be NULL) gets dL/dyhat. Returns the loss. */
double nm_ref_lp_loss(const double *yhat, const double *y, uint32_t batch, uint64_t per_trace, int p,
                      double *grad);

typedef struct nm_adamw {
    double lr, beta1, beta2, eps, weight_decay;
} nm_adamw;
/* NOBLE's optimiser: lr 4e-3, betas 0.9/0.999, eps 1e-6, weight decay 0. */
void nm_adamw_default(nm_adamw *a);
/* One AdamW step as torch.optim.AdamW takes it; step counts from 1. */
void nm_ref_adamw(const nm_adamw *a, uint64_t step, uint64_t n, double *params, const double *grad, double *m,
                  double *v);

/* ----------------------------------------------------------- checkpoints */

/* ------------------------------------------------------------- embedding */

/* NOBLE's input (docs/operator.md, "Embedding"), in one canonical order:
 *   channel 0                      the injected current / current_scale
 *   1 .. 2*amp_freqs               the amplitude code: sin, cos of 2^k pi v t, k = 0..amp_freqs-1
 *   then for each further code     (I_thr, s_thr) the same with feat_freqs pairs
 * where t = linspace(0, 2 pi, N) over the window and v is the code min-max
 * scaled to [lo, hi] by a scaler fitted on training models only. The
 * network predicts the voltage divided by voltage_scale. */
#define NM_MAX_CODES 4
typedef struct nm_embedding {
    uint32_t amp_freqs;                  /* K of the amplitude (9) */
    uint32_t feat_freqs;                 /* K of each neuron feature (1) */
    uint32_t n_codes;                    /* amplitude + features (3) */
    char names[NM_MAX_CODES][32];        /* "amplitude", "I_thr", "s_thr" */
    char units[NM_MAX_CODES][16];        /* "pA", "pA", "Hz/pA" */
    double min[NM_MAX_CODES], max[NM_MAX_CODES]; /* the fitted scaler */
    double lo, hi;                       /* the scaled range (0.5, 3.5) */
    double current_scale;                /* pA */
    double voltage_scale;                /* mV */
} nm_embedding;

/* NOBLE's embedding (K = 9, 1, 1; codes amplitude, I_thr, s_thr; [0.5,
 * 3.5]), its scaler not yet fitted (min = max = 0), scales 100 pA, 100 mV. */
void nm_embedding_default(nm_embedding *e);
/* Input channels it makes: 1 + 2 amp_freqs + 2 (n_codes - 1) feat_freqs. */
uint32_t nm_embedding_channels(const nm_embedding *e);
/* Checks counts, a fitted scaler (max > min, finite) and positive scales. */
nb_status nm_embedding_check(const nm_embedding *e);
/* A code's value scaled to [lo, hi] (outside it for values outside the
 * fitted range: extrapolation is the caller's choice). */
double nm_embedding_scale(const nm_embedding *e, uint32_t code, double value);
/* Frequencies in all: amp_freqs + (n_codes - 1) feat_freqs. */
uint32_t nm_embed_frequencies(const nm_embedding *e);
/* What the device kernel (shaders/nerf_input.comp) takes per trace and
 * frequency: the cycles per sample, computed in double from the scaled
 * code and split into 4 floats (three parts and a zero) so that the device
 * reduces the phase exactly at any sample below n. w: [B][frequencies][4]. */
void nm_embed_cycles(const nm_embedding *e, const float *codes, uint32_t batch, uint32_t n, float *w);
/* Double-precision reference: x[B][channels][n] from current[B][n] (pA)
 * and codes[B][n_codes] (in their units). */
void nm_embed_ref(const nm_embedding *e, const double *current, const double *codes, uint32_t batch, uint32_t n,
                  double *x);

/* ----------------------------------------------------------- checkpoints */

/* Everything a checkpoint holds (docs/checkpoint.md). Arrays are owned by
 * the struct after nm_checkpoint_load; free them with nm_checkpoint_free. */
typedef struct nm_checkpoint {
    nm_config config;
    float *params;               /* nm_param_count floats */
    float *exp_avg, *exp_avg_sq; /* AdamW moments; NULL when absent */
    nm_adamw opt;
    uint64_t step, epoch;
    double best_metric;
    nm_rng rng;
    int has_embedding;           /* the embedding and its fitted scaler */
    nm_embedding embedding;
    char *state;                 /* the training script's own state (text); NULL when absent */
} nm_checkpoint;

/* Writes path through a temporary file and a rename: no reader ever sees
 * half a checkpoint, and a failed save leaves no file behind. */
nb_status nm_checkpoint_save(const char *path, const nm_checkpoint *ck);
/* Reads a checkpoint, checking the format, the configuration (against
 * expect when not NULL) and every parameter's presence and shape; the
 * message names what is wrong. */
nb_status nm_checkpoint_load(const char *path, const nm_config *expect, nm_checkpoint *out);
void nm_checkpoint_free(nm_checkpoint *ck);

/* A float32 array in an HDF5 file, for inputs and outputs of the operator:
 * nm_array_load allocates *data (free it) and gives its shape (rank <= 4);
 * nm_array_save adds or replaces dataset name, creating the file when
 * absent; units (may be NULL) goes into a "units" attribute. */
nb_status nm_array_load(const char *path, const char *name, float **data, uint32_t *rank, uint64_t dims[4]);
nb_status nm_array_save(const char *path, const char *name, const float *data, uint32_t rank, const uint64_t *dims,
                        const char *units);

/* --------------------------------------------------------------- windows */

/* The window a checkpoint was trained on (window.c), read from its training
 * script's state (/train/script_state "geometry", docs/checkpoint.md): the
 * operator maps the current over exactly this window, a step of any
 * amplitude from stim_start_ms to stim_end_ms, to the voltage over it. */
typedef struct nm_window {
    double dt_ms;                      /* sample spacing in the window */
    uint32_t length;                   /* samples (the model's length) */
    double stim_start_ms, stim_end_ms; /* the step, from the window's first sample */
    double window_start_ms;            /* where the window starts in the dataset's traces (unjittered) */
    double source_dt_ms;               /* the dataset's sample spacing (dt_ms = stride * it) */
    uint32_t stride;
    char cell[64];                     /* the dataset's cell ("" when not recorded) */
    char dataset[512];                 /* the dataset's path as training was given it ("" when not recorded) */
} nm_window;

/* The checkpoint's window; refused, naming what is missing, for a
 * checkpoint whose state does not record one or records an inconsistent one. */
nb_status nm_checkpoint_window(const nm_checkpoint *ck, nm_window *w);
/* The training models' points (I_thr pA, s_thr Hz/pA) the checkpoint
 * records (/train/script_state "train_points"): writes up to cap pairs to
 * points[2 i], points[2 i + 1]; *count gets how many there are (0 when the
 * checkpoint records none). */
nb_status nm_checkpoint_train_points(const nm_checkpoint *ck, double *points, uint32_t cap, uint32_t *count);
/* The step's samples [*first, *end) in the window: round(stim_start / dt)
 * and round(stim_end / dt), rounding halves up. */
void nm_window_step_samples(const nm_window *w, uint32_t *first, uint32_t *end);
/* The operator's input current (pA) for a step of amplitude_pA in the
 * window: current[i] = amplitude for i in the step's samples, else 0,
 * length samples. A non-finite amplitude is refused. */
nb_status nm_window_step(const nm_window *w, double amplitude_pA, float *current);

/* -------------------------------------------------------------- datasets */

/* A ground-truth dataset written by `noble datagen` (docs/dataset.md, format
 * "noble-dataset", format_version 1), read whole into host memory. The
 * struct is read-only for callers; indices are 0-based rows of the file. */
typedef struct nm_dataset {
    char path[512];
    char cell[64];
    uint32_t n_models, n_traces, n_samples, n_features;
    double dt_ms, stim_start_ms, stim_end_ms;    /* sample spacing, the step */
    double window_ms, window_step_start_ms;      /* NOBLE's window: 515 ms from 15 ms before the step */
    double jitter_ms[2];                         /* its start moves back by U[jitter] (0, 30) ms */
    float *voltage, *current;                    /* [n_traces][n_samples]: mV, pA */
    double *amplitude;                           /* [n_traces] pA */
    int32_t *model;                              /* [n_traces] row of the models */
    uint8_t *near_threshold;                     /* [n_traces] 1: an I_thr + offset step */
    double *neuron_wall_s;                       /* [n_traces] NEURON's wall time, s */
    double *features;                            /* [n_traces][n_features], NaN = undefined */
    char (*feature_names)[32];                   /* [n_features] */
    double *I_thr, *s_thr;                       /* [n_models] pA, Hz/pA */
    int8_t *split;                               /* [n_models] 0 train, 1 validation, 2 test */
    int32_t *family;                             /* [n_models] */
} nm_dataset;

enum { NM_SPLIT_TRAIN = 0, NM_SPLIT_VALIDATION = 1, NM_SPLIT_TEST = 2 };

/* Opens and reads a dataset; checks the format, `complete`, and every field
 * it uses (presence, rank, shape, finiteness of traces); the message names
 * the file and the field that is missing or wrong. */
nb_status nm_dataset_open(const char *path, nm_dataset **out);
void nm_dataset_close(nm_dataset *d);
/* The traces (or models, when models != 0) whose model is in split; writes
 * up to cap indices in increasing order, returns how many there are. */
uint32_t nm_dataset_select(const nm_dataset *d, int split, int models, uint32_t *out, uint32_t cap);
/* First sample of the window whose start lies jitter_ms before the
 * unjittered one: round((stim_start - window_step_start - jitter) / dt). */
int64_t nm_dataset_window_start(const nm_dataset *d, double jitter_ms);
/* Cuts windows: for each i < n, samples start[i] + k * stride (k < length)
 * of trace ids[i] into current[i][k] (pA) and voltage[i][k] (mV) (either
 * may be NULL), and codes[i] = {amplitude (pA), I_thr (pA), s_thr (Hz/pA)}
 * of its trace and model (may be NULL). A window that leaves the trace or
 * an id out of range is refused, naming it. */
nb_status nm_dataset_window(const nm_dataset *d, const uint32_t *ids, const int64_t *start, uint32_t n,
                            uint32_t length, uint32_t stride, float *current, float *voltage, float *codes);

/* ---------------------------------------------------------------- stores */

/* A streaming, appendable HDF5 file (store.c; docs/lua-api.md, "Stores"),
 * for outputs far larger than memory: datasets whose first dimension grows
 * with each append, chunked (about 1 MiB of rows a chunk, at least one row)
 * and compressed (shuffle + gzip level 4). Each dataset keeps a chunk cache
 * of two chunks, so memory stays bounded whatever is appended. The file is
 * written to PATH.tmp.PID and appears at PATH only when finished, with the
 * root attribute complete = 1 (0 while writing). Names may contain '/':
 * the groups on the way are created. Values are stored as given (NaN is a
 * legitimate value). After nm_store_finish or nm_store_abort the store is
 * gone; any failure inside finish aborts it. */
typedef struct nm_store nm_store;

/* Creates PATH.tmp.PID; the message names the directory when it is
 * missing or not writable. */
nb_status nm_store_create(const char *path, nm_store **out);
/* A float32 dataset of rows of shape row_dims[rank] (rank 0 to 3: scalar
 * rows to 3-d rows), empty at first; units (may be NULL) becomes its
 * "units" attribute. The int32 variant is for ids and counts. */
nb_status nm_store_dataset(nm_store *s, const char *name, uint32_t rank, const uint64_t *row_dims, const char *units);
nb_status nm_store_dataset_int32(nm_store *s, const char *name, uint32_t rank, const uint64_t *row_dims,
                                 const char *units);
/* Appends rows rows (row-major, rows * row size values) to a dataset of
 * this store and of this type; the message names a dataset that is not. */
nb_status nm_store_append(nm_store *s, const char *name, uint64_t rows, const float *data);
nb_status nm_store_append_int32(nm_store *s, const char *name, uint64_t rows, const int32_t *data);
/* A dataset's type (1: int32), row shape and rows appended so far; any
 * output may be NULL. */
nb_status nm_store_shape(nm_store *s, const char *name, int *int32, uint32_t *rank, uint64_t row_dims[3],
                         uint64_t *rows);
/* Attributes (float64, float64 arrays, UTF-8 strings) of obj: "" or "/"
 * (or NULL) is the root, else a dataset or group already made; one of the
 * same name is replaced. The root's "complete" is the store's own. */
nb_status nm_store_attr_double(nm_store *s, const char *obj, const char *name, double v);
nb_status nm_store_attr_doubles(nm_store *s, const char *obj, const char *name, uint64_t n, const double *v);
nb_status nm_store_attr_string(nm_store *s, const char *obj, const char *name, const char *v);
/* Writes the cached chunks, sets complete = 1, closes, fsyncs and renames
 * the file to PATH, and frees the store. */
nb_status nm_store_finish(nm_store *s);
/* Closes and removes the temporary file and frees the store (s may be NULL). */
void nm_store_abort(nm_store *s);
/* Appends every dataset of the finished store file part (root attribute
 * complete = 1) to the dataset of the same name in s, made first (same type,
 * row shape and units) where s lacks it; with copy_attrs, copies part's root
 * attributes too (but 'complete'). Values are copied as stored, in blocks of
 * bounded memory: how per-rank shards are joined into one file in rank order
 * (docs/mpi.md). */
nb_status nm_store_append_file(nm_store *s, const char *part, int copy_attrs);

/* ------------------------------------------------------------ GPU model */

typedef struct nm_model nm_model;

/* Registers the operator's C kernels with the runtime's CPU backend (once per
 * process; nm_model_create does it for a CPU context). */
nb_status nm_cpu_kernels_register(void);

/* Builds the operator on a context for batches up to max_batch: kernels,
 * FFT plans, parameters, gradients, optimiser moments and activations. With
 * training = 0 only what inference needs is allocated. */
nb_status nm_model_create(nb_context *ctx, const nm_config *c, uint32_t max_batch, int training,
                          nm_model **out);
void nm_model_destroy(nm_model *m);
const nm_config *nm_model_config(const nm_model *m);
/* The device-dependent paths the model took (docs/architecture.md, the GPU
 * configuration): its fused kernels read inputs as texels (else from
 * storage buffers), and its weight gradients use the CPU device's tiles
 * (else the GPU's). */
typedef struct nm_model_paths {
    int texel_loads;
    int cpu_tiles;
    uint32_t microbatch; /* traces per pass: the batch is split to fit one storage binding */
} nm_model_paths;
void nm_model_paths_get(const nm_model *m, nm_model_paths *p);

nb_status nm_model_set_params(nm_model *m, const float *params);
nb_status nm_model_get_params(nm_model *m, float *params);
/* Gradients of the last nm_model_backward / nm_model_train_step (P floats,
 * nm_param_count). */
nb_status nm_model_get_grads(nm_model *m, float *grad);
/* Replaces the gradient (P finite floats) that the next nm_model_adamw_step
 * applies: data-parallel training sums the ranks' gradients on the host
 * (docs/mpi.md) and sets the sum on every rank. */
nb_status nm_model_set_grads(nm_model *m, const float *grad);
/* One AdamW step (step counts from 1) on the current gradient, as
 * nm_model_train_step ends: nm_model_backward (or _embedded) then
 * nm_model_adamw_step is nm_model_train_step, bit for bit. */
nb_status nm_model_adamw_step(nm_model *m, const nm_adamw *opt, uint64_t step);
/* Optimiser moments, for checkpoints. */
nb_status nm_model_get_moments(nm_model *m, float *exp_avg, float *exp_avg_sq);
nb_status nm_model_set_moments(nm_model *m, const float *exp_avg, const float *exp_avg_sq);

/* y[B][out][N] from x[B][in][N], host arrays; batch <= max_batch. */
nb_status nm_model_forward(nm_model *m, const float *x, uint32_t batch, float *y);
/* Forward, relative Lp loss against target, and all gradients (kept on the
 * device; read them with nm_model_get_grads). *loss gets the summed loss. */
nb_status nm_model_backward(nm_model *m, const float *x, const float *target, uint32_t batch, int p,
                            double *loss);
/* nm_model_backward, then one AdamW step (step counts from 1). */
nb_status nm_model_train_step(nm_model *m, const float *x, const float *target, uint32_t batch, int p,
                              const nm_adamw *opt, uint64_t step, double *loss);

/* The embedded input path: the model computes its input channels on the
 * device from the current and the codes (nm_embedding), and works in mV.
 * The embedding's channels must equal the configuration's in_channels. */
nb_status nm_model_set_embedding(nm_model *m, const nm_embedding *e);
/* 1 and *e (may be NULL) filled when the model has an embedding. */
int nm_model_embedding(const nm_model *m, nm_embedding *e);
/* voltage[B][N] (mV) from current[B][N] (pA) and codes[B][n_codes]. */
nb_status nm_model_predict(nm_model *m, const float *current, const float *codes, uint32_t batch, float *voltage);
/* A training step on the embedded path; target voltage in mV. Same loss as
 * nm_model_train_step (relative Lp does not depend on voltage_scale). */
nb_status nm_model_train_step_embedded(nm_model *m, const float *current, const float *codes, const float *voltage,
                                       uint32_t batch, int p, const nm_adamw *opt, uint64_t step, double *loss);

/* An extra term of the loss computed on the host from the prediction: for
 * traces [at, at + b) of the batch, v[b][n] the predicted voltage (mV);
 * returns the term's value and writes d term / d v to g[b][n]. */
typedef double (*nm_loss_term)(void *user, uint32_t at, uint32_t b, uint32_t n, const float *v, float *g);
/* Forward, relative Lp loss (+ term, when term is not NULL) and all
 * gradients of a batch on the embedded path, without the optimiser step
 * (the gradient replaces the last one; read it with nm_model_get_grads, step
 * with nm_model_adamw_step). *loss gets the summed loss, term included;
 * *term_value (may be NULL) the term's sum. */
nb_status nm_model_backward_embedded(nm_model *m, const float *current, const float *codes, const float *voltage,
                                     uint32_t batch, int p, nm_loss_term term, void *user, double *loss,
                                     double *term_value);
/* nm_model_train_step_embedded with loss = relative Lp + term (called once
 * per micro-batch, between the forward and the backward); *term_value
 * (may be NULL) gets the term's sum. */
nb_status nm_model_train_step_term(nm_model *m, const float *current, const float *codes, const float *voltage,
                                   uint32_t batch, int p, nm_loss_term term, void *user, const nm_adamw *opt,
                                   uint64_t step, double *loss, double *term_value);

/* NOBLE's sag term (the optional fine-tune): lambda * sum_b (sag(v_b) -
 * sag(t_b))^2 / sum_b sag(t_b)^2 over the hyperpolarising traces of the
 * batch, with a differentiable sag: the mean over the last tenth of the
 * step minus a soft minimum over the step, -tau log sum exp(-v / tau). */
typedef struct nm_sag_term {
    double lambda, tau_mV;       /* 25, 0.1 */
    uint32_t batch, n;           /* traces, samples per trace */
    const uint32_t *step0, *step1; /* [batch] the step's samples [step0, step1) in each window */
    const uint8_t *use;          /* [batch] 1: a hyperpolarising trace, in the term */
    const float *target;         /* [batch][n] mV */
    double denom;                /* set by nm_sag_prepare: sum of sag(t)^2 */
} nm_sag_term;
/* The differentiable sag of one trace over [s0, s1); grad (may be NULL,
 * n entries, zeroed by the caller) gets d sag / d v. */
double nm_soft_sag(const float *v, uint32_t s0, uint32_t s1, double tau, float *grad);
/* Checks the term and computes its denominator from the targets. */
nb_status nm_sag_prepare(nm_sag_term *t);
/* The nm_loss_term of an nm_sag_term (user = the term). */
double nm_sag_loss(void *user, uint32_t at, uint32_t b, uint32_t n, const float *v, float *g);

/* A spike-count term (not in the published recipe; docs/training.md): a
 * soft count of upward threshold crossings, c(v) = sum_i max(0, s_{i+1} -
 * s_i) with s_i = 1 / (1 + exp(-(v_i - threshold) / width)), compared per
 * trace as lambda * sum_b ((c(v_b) - c(t_b)) / (c(t_b) + 1))^2. It rewards
 * the right number of spikes whatever their timing, which relative Lp
 * alone punishes twice when a spike is a little early or late. */
typedef struct nm_spike_term {
    double lambda;              /* 1 */
    double threshold_mV, width_mV; /* -20, 5 */
    uint32_t batch, n;
    const float *target;        /* [batch][n] mV */
} nm_spike_term;
/* The soft spike count of v[0..n); grad (may be NULL, n entries) gets
 * d count / d v added to it. */
double nm_soft_spike_count(const float *v, uint32_t n, double threshold, double width, float *grad);
/* Checks the term's settings. */
nb_status nm_spike_prepare(const nm_spike_term *t);
/* The nm_loss_term of an nm_spike_term (user = the term). */
double nm_spike_loss(void *user, uint32_t at, uint32_t b, uint32_t n, const float *v, float *g);

/* A shape term (not in the published recipe; docs/training.md): the squared
 * 1-D Wasserstein-2 distance between the predicted and the true
 * distributions of a trace's voltage values, and of its sample-to-sample
 * changes, each relative to the target's spread:
 *   Q(x, y) = sum_k (sort(x)_k - sort(y)_k)^2 / (sum_k (y_k - mean y)^2 + n f^2),
 *   term = lambda * sum_b [Q(v_b, t_b) + Q(diff v_b, diff t_b)],
 * with floors f = 1 mV (values) and 0.1 mV (changes) for flat traces.
 * Sorting forgets where a value is: the term asks for spikes of the right
 * height, width, after-hyperpolarisation and number wherever they fall,
 * where a pointwise loss prefers a blur to a spike that may be mistimed. */
typedef struct nm_shape_term {
    double lambda;       /* 1 */
    uint32_t batch, n;
    const float *target; /* [batch][n] mV */
    void *scratch;       /* nm_shape_scratch_bytes(n) bytes, the caller's */
} nm_shape_term;
/* Bytes of scratch the term needs for traces of n samples. */
uint64_t nm_shape_scratch_bytes(uint32_t n);
/* Q(x, y) for n values with floor f; grad (may be NULL, n entries) gets
 * d Q / d x added to it; scratch as for the term. */
double nm_sorted_distance(const float *x, const float *y, uint32_t n, double floor, float *grad, void *scratch);
/* Checks the term's settings. */
nb_status nm_shape_prepare(const nm_shape_term *t);
/* The nm_loss_term of an nm_shape_term (user = the term). */
double nm_shape_loss(void *user, uint32_t at, uint32_t b, uint32_t n, const float *v, float *g);

/* What each op of the last forward, backward or training step did: GPU time
 * (where the device has timestamps; 0 otherwise) and the bytes it moved and
 * floating-point operations it performed by its own count, summed over
 * micro-batches. For benches: achieved bandwidth and FLOP rates. */
typedef struct nm_op_stat {
    char label[48];
    uint32_t count;
    double ms, bytes, flops;
} nm_op_stat;
nb_status nm_model_op_stats(const nm_model *m, const nm_op_stat **stats, uint32_t *n);
/* Device memory the model holds, bytes. */
uint64_t nm_model_device_bytes(const nm_model *m);

#ifdef __cplusplus
}
#endif
#endif
