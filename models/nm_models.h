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

#define NM_MAX_SCALER 8

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
    /* embedding scaler: min-max per feature, fitted on training models */
    uint32_t n_scaler;
    char scaler_names[NM_MAX_SCALER][32];
    double scaler_min[NM_MAX_SCALER], scaler_max[NM_MAX_SCALER];
    char current_units[16], voltage_units[16]; /* "pA", "mV" */
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

/* ------------------------------------------------------------ GPU model */

typedef struct nm_model nm_model;

/* Builds the operator on a context for batches up to max_batch: kernels,
 * FFT plans, parameters, gradients, optimiser moments and activations. With
 * training = 0 only what inference needs is allocated. */
nb_status nm_model_create(nb_context *ctx, const nm_config *c, uint32_t max_batch, int training,
                          nm_model **out);
void nm_model_destroy(nm_model *m);
const nm_config *nm_model_config(const nm_model *m);

nb_status nm_model_set_params(nm_model *m, const float *params);
nb_status nm_model_get_params(nm_model *m, float *params);
/* Gradients of the last nm_model_backward / nm_model_train_step. */
nb_status nm_model_get_grads(nm_model *m, float *grad);
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
