/* operator.c - NOBLE's FNO on the runtime: kernels, buffers, and the
 * recordings of the forward pass, the backward pass and AdamW.
 *
 * Traces go through in micro-batches small enough that every tensor fits
 * one storage-buffer binding (128 MiB on lavapipe); gradients add up over
 * micro-batches (the loss is a sum over traces), then one AdamW step runs.
 * For the backward, each block keeps its input x_j, its pre-activation z_j
 * and its scaled input spectrum (modes only); the rest of the block is
 * recomputed from those (three cheap pointwise kernels, no extra FFT). */
#include "nm_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Positions per workgroup in the weight-gradient partial sums: GPUs want
 * many workgroups; a CPU device runs a few large ones (its lanes take
 * phases of the chunk), which keeps the partial rows few. Both are upper
 * bounds: wgrad_chunk() makes a chunk smaller where the device stops long
 * loops (lavapipe). */
#define CHUNK_GPU 1024
#define CHUNK_CPU 16384

/* A pointwise layer: where its weight, bias and soft gate sit in the flat
 * parameter buffer (g = 0: no gate), and its own small uniform buffer that
 * holds a copy of them as [W | bias | gate] for the kernels to read. */
typedef struct layer {
    uint64_t w, b, g;
    uint32_t cin, cout;
    nb_buffer *ubo;
} layer;

typedef struct blk {
    uint64_t spec_w;   /* the complex spectral weights */
    layer skip;        /* W_skip, with the spectral bias as its bias and the block's gate */
    layer fc0, fc1;    /* the channel MLP; fc1 carries the gate */
} blk;

struct nm_model {
    nb_context *ctx;
    nm_config c;
    uint32_t max_batch, mb; /* mb: traces per micro-batch */
    int training;
    uint64_t P;
    uint32_t I, NC; /* NC: complex bins per spectrum row (n/2+1, or the kept modes where packed) */
    int packed;     /* the spectral transforms write and read packed rows (nb_fft_plan_packed) */

    /* offsets */
    layer lift0, lift1, proj0, proj1;
    blk *bo;

    /* kernels */
    nb_kernel *k_grid;
    nb_kernel *k_lift, *k_proj; /* mlp_fwd */
    nb_kernel *k_blk[2];        /* [activation]: block_fwd */
    nb_kernel *k_blk_bwd[2][2]; /* [activation][gradient in two parts]: block_bwd */
    nb_kernel *k_mix, *k_mix_bwd, *k_wgrad, *k_reduce, *k_acc, *k_adamw;
    nb_kernel *k_loss[2][3]; /* [p==4][pass-1] */
    nb_kernel *k_proj_bwd, *bx_lift1;
    nb_kernel *bw_proj1, *bw_proj0, *bw_fc1, *bw_fc0[2], *bw_skip, *bw_lift1, *bw_lift0; /* bw_fc0[act] */

    /* buffers */
    nb_buffer *prm, *grad, *m1, *m2;
    nb_buffer *xin, *tgt, *yout, *a0, *hl, *hp; /* hl, hp: the lifting's and projection's hidden layers */
    nb_buffer **xs, **zs, **ss; /* per block (training) or 2/1/1 (inference) */
    nb_buffer *F, *Y, *sbuf, *a;
    nb_buffer *gyo, *gap, *gv, *gx, *gq, *ga, *gz, *gal, *part, *lpart, *lstats;
    uint32_t rows_max, row_max, loss_chunks;
    uint32_t mix_bg; /* traces per invocation of spectral_mix (loop_plan) */
    int cpu_tiles;   /* weight-gradient tiles for CPU devices (wgrad_shape) */
    int ubo; /* weights through uniform buffers (every layer fits one) */
    int texel; /* the fused kernels read their inputs as texels (NB_TEXEL) */

    /* the embedded input path (nm_model_set_embedding) */
    int has_emb;
    nm_embedding emb;
    uint32_t nw;            /* frequencies in all */
    nb_kernel *k_embed;
    nb_buffer *cur, *wbuf;  /* [mb][N] current, [mb][nw] vec4 cycles per sample */
    float *hw, *ht;         /* host scratch: [mb][nw][4], [mb][N] */
    nb_buffer *gext;        /* [mb][N] a host loss term's gradient (nm_model_train_step_term) */
    float *hg;              /* host scratch [mb][N] */

    nb_cmd *cmd;
    nm_op_stat *st; /* per label: time and work of the current call */
    uint32_t nst, capst;
};

/* ------------------------------------------------------------- creation */

/* *out = 1 or 0 when the environment variable `name` says `on` or `off`,
 * dflt when it is unset or empty; anything else is refused by name. */
static nb_status env_choice(const char *name, const char *on, const char *off, int dflt, int *out)
{
    const char *v = getenv(name);
    *out = dflt;
    if (!v || !*v)
        return NB_OK;
    if (strcmp(v, on) != 0 && strcmp(v, off) != 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "%s='%s': expected %s or %s", name, v, on, off);
    *out = strcmp(v, on) == 0;
    return NB_OK;
}

/* How a kernel reads a large input: as texels where the model chose them
 * (m->texel, with the shader's TEXEL define), else from a storage buffer. */
static nb_access in_access(const nm_model *m) { return m->texel ? NB_TEXEL : NB_READ; }

static nb_status kernel(nm_model *m, nb_kernel **out, const char *name, const char *const *defines,
                        uint32_t nb, const nb_access *acc, uint32_t push)
{
    nb_kernel_desc d = {.name = name, .n_bindings = nb, .push_bytes = push};
    for (uint32_t i = 0; defines && defines[i] && i < NB_MAX_DEFINES - 1; i++)
        d.defines[i] = defines[i];
    for (uint32_t i = 0; i < nb; i++)
        d.access[i] = acc[i];
    return nb_kernel_create(m->ctx, &d, out);
}

/* A define string that lives as long as the model is being created. */
typedef struct defs {
    char s[12][40];
    const char *p[13];
    int n;
} defs;

static void def(defs *d, const char *name, long v)
{
    snprintf(d->s[d->n], sizeof d->s[d->n], "%s=%ld", name, v);
    d->p[d->n] = d->s[d->n];
    d->n++;
    d->p[d->n] = NULL;
}

/* linear_bwd_x through the GELU before the layer (DGELU): the lifting's
 * second layer, the one pointwise layer left outside the fused kernels. */
static nb_status lin_bwd_x(nm_model *m, nb_kernel **k, uint32_t cin, uint32_t cout)
{
    defs d = {.n = 0};
    def(&d, "CIN", cin);
    def(&d, "COUT", cout);
    def(&d, "DGELU", 1);
    def(&d, "UBO", m->ubo);
    def(&d, "BIAS", 1); /* every layer's uniform buffer has a bias slot */
    def(&d, "TEXEL", m->texel);
    nb_access in = in_access(m), acc[4] = {m->ubo ? NB_UNIFORM : NB_READ, in, NB_WRITE, in};
    return kernel(m, k, "linear_bwd_x", d.p, 4, acc, 12);
}

/* The side of a lane's tile of weight gradients along a dimension of c
 * channels on a GPU: 8 where it divides c, else 6 or 4 without waste. */
static uint32_t tile_side(uint32_t c)
{
    return c % 8 == 0 ? 8 : c % 6 == 0 ? 6 : c % 4 == 0 ? 4 : c < 8 ? c : 8;
}

/* linear_bwd_w's tiles (two x twi, float accumulators when dot), and the
 * partial rows each chunk of positions writes (its phases: a lane per tile
 * and phase, enough to fill the 64 lanes of a GPU workgroup or the 8 of a
 * CPU device's SIMD width). On a CPU device a tile covers up to 24 x 24 of the
 * layer with float accumulators, since a load costs lavapipe more than a
 * spilled accumulator: the NOBLE preset's 24 x 24 gradient then loads g
 * and x once per position instead of three times (A/B on lavapipe: the
 * kernel 17.2 -> 12.0 ms; 8 x 8 float tiles 15.8, 12 x 12 14.2). On a GPU,
 * 8 x 8 vec4 tiles keep the accumulators in registers. */
static void wgrad_shape(const nm_model *m, uint32_t cin, uint32_t cout, uint32_t *two, uint32_t *twi, int *dot,
                        uint32_t *phases)
{
    if (m->cpu_tiles) {
        *twi = cin < 24 ? cin : 24;
        *two = cout < 576 / *twi ? cout : 576 / *twi;
        *dot = 1;
    } else {
        *two = tile_side(cout);
        *twi = tile_side(cin);
        *dot = 0;
    }
    uint32_t tiles = ((cout + *two - 1) / *two) * ((cin + *twi - 1) / *twi);
    uint32_t lanes = m->cpu_tiles ? 8 : 64;
    *phases = tiles >= lanes ? 1 : lanes / tiles;
    if (m->cpu_tiles) {
        /* phases only to give the cores tasks: each one more partial row
         * for every chunk to write and reduce_rows to read. 16 tasks at
         * the model's micro-batch are enough. */
        uint64_t chunks = ((uint64_t)m->mb * m->c.length + CHUNK_CPU - 1) / CHUNK_CPU;
        uint64_t want = chunks >= 16 ? 1 : (16 + chunks - 1) / chunks;
        if (*phases > want)
            *phases = (uint32_t)want;
    }
}

/* Input channels per invocation of spectral_wgrad (the largest of 4, 3, 2,
 * 1 that divides the width), as spectral_mix takes m->mix_bg traces per
 * invocation (loop_plan): each weight and each coefficient is then loaded
 * once per group. */
static uint32_t wgrad_ig(uint32_t c) { return c % 4 == 0 ? 4 : c % 3 == 0 ? 3 : c % 2 == 0 ? 2 : 1; }

/* ------------------------------------------------------ the loop cap
 * llvmpipe (lavapipe) ends the loops of a shader invocation once 65535
 * iterations have run, all of its loops counted together, and the kernel
 * carries on with whatever they had summed: no error, no validation message
 * (nb_device_info.max_loop_iterations; ../docs/operator.md). So each
 * kernel's iterations per invocation are counted here from its shape, one
 * function per kernel that mirrors the shader's loops. Every loop is counted
 * as if the compiler unrolled none: an upper bound, since a loop that is
 * unrolled costs the limiter nothing. Work that grows with the batch or the
 * length (the weight gradients' chunks of positions, their partial rows, the
 * traces of the spectral weight gradient) is planned to stay under half the
 * cap (loop_plan), and run() refuses any dispatch whose count reaches the cap.
 * A shader's loops change: its function here changes with it. */

/* Half the device's cap: the planning target; UINT64_MAX where none. */
static uint64_t loop_budget(const nm_model *m)
{
    uint32_t cap = nb_context_device(m->ctx)->max_loop_iterations;
    return cap ? cap / 2 : UINT64_MAX;
}

static uint64_t it_grid(uint64_t cin) { return cin; }
static uint64_t it_embed(uint64_t nw) { return nw; }
/* gelu_both_v (vec.glsl) loops over the four positions of a vec4 */
#define IT_GELU_BOTH 4
static uint64_t it_mlp_fwd(uint64_t cin, uint64_t hid, uint64_t cout)
{
    return cin + 2 * cout + hid * (1 + cin + cout);
}
static uint64_t it_mlp_bwd(uint64_t cin, uint64_t hid, uint64_t cout)
{
    return cout + 2 * cin + hid * (1 + cout + cin);
}
static uint64_t it_linx(uint64_t cin, uint64_t cout) { return cout + cin * (1 + cout); }
static uint64_t it_block_fwd(uint64_t C, uint64_t E) { return C + C * (1 + C) + E * (1 + C) + C * (1 + E); }
static uint64_t it_block_bwd(uint64_t C, uint64_t E)
{
    return C * (1 + IT_GELU_BOTH) + E * (1 + C + IT_GELU_BOTH) + C * (1 + E) + E * (1 + C) + C * (1 + E) +
           C * (1 + C);
}
static uint64_t it_mix(uint64_t C, uint64_t bg) { return bg * (1 + C) + C * (1 + 2 * bg + C * (1 + bg)); }
static uint64_t it_swgrad(uint64_t C, uint64_t ig, uint64_t batch)
{
    return 2 * ig * (1 + C) + batch * (1 + ig + C * (1 + ig));
}
static uint64_t it_loss(uint32_t pass, uint64_t chunks)
{
    return pass == 1 ? 4096 / 64 + 6 : pass == 2 ? chunks : 0;
}
static uint64_t it_reduce(uint64_t rows) { return rows; }
#define IT_EWISE 4

/* linear_bwd_w: each lane runs `units` (tile, phase) pairs; each pair sets
 * up and writes its tile (fixed) and runs `q` groups of four positions
 * (per_q: the loads, the GELU of XGELU counted always, the tile's sums and
 * the bias and gate sums). */
static uint64_t it_wgrad_units(uint32_t two, uint32_t twi, uint32_t cin, uint32_t cout, uint32_t phases)
{
    uint64_t tiles = (uint64_t)((cout + two - 1) / two) * ((cin + twi - 1) / twi);
    return (tiles * phases + 63) / 64;
}
static uint64_t it_wgrad_fixed(uint64_t two, uint64_t twi) { return 1 + 2 * (two + two * twi) + 2 * two; }
static uint64_t it_wgrad_per_q(uint64_t two, uint64_t twi) { return 1 + 3 * two + 2 * twi + two * twi; }
static uint64_t it_wgrad(const nm_model *m, uint32_t cin, uint32_t cout, uint32_t chunk)
{
    uint32_t two, twi, phases;
    int dot;
    wgrad_shape(m, cin, cout, &two, &twi, &dot, &phases);
    uint64_t q = ((uint64_t)chunk / 4 + phases - 1) / phases;
    return it_wgrad_units(two, twi, cin, cout, phases) * (it_wgrad_fixed(two, twi) + q * it_wgrad_per_q(two, twi));
}

/* Positions per workgroup of linear_bwd_w for a cin -> cout layer: the
 * device's default, or less where the loop budget needs it (a multiple of
 * four phases). */
static uint32_t wgrad_chunk(const nm_model *m, uint32_t cin, uint32_t cout)
{
    uint32_t two, twi, phases;
    int dot;
    wgrad_shape(m, cin, cout, &two, &twi, &dot, &phases);
    const uint32_t dflt = m->cpu_tiles ? CHUNK_CPU : CHUNK_GPU;
    const uint64_t budget = loop_budget(m), units = it_wgrad_units(two, twi, cin, cout, phases),
                   fixed = it_wgrad_fixed(two, twi);
    if (budget == UINT64_MAX)
        return dflt;
    uint64_t q = budget / units > fixed ? (budget / units - fixed) / it_wgrad_per_q(two, twi) : 0;
    uint64_t chunk = (q ? q : 1) * phases * 4; /* one group per phase at least: loop_plan checks it */
    return chunk < dflt ? (uint32_t)chunk : dflt;
}

/* The partial rows each chunk of a cin -> cout weight gradient writes. */
static uint32_t wgrad_phases(const nm_model *m, uint32_t cin, uint32_t cout)
{
    uint32_t two, twi, ph;
    int dot;
    wgrad_shape(m, cin, cout, &two, &twi, &dot, &ph);
    return ph;
}

/* Each linear layer whose weight gradient the model takes: cin, cout. */
static uint32_t wgrad_layers(const nm_model *m, uint32_t io[][2])
{
    const nm_config *c = &m->c;
    const uint32_t l[7][2] = {{c->projection_channels, c->out_channels}, {c->width, c->projection_channels},
                              {c->mlp_channels, c->width},           {c->width, c->mlp_channels},
                              {c->width, c->width},                  {c->lifting_channels, c->width},
                              {m->I, c->lifting_channels}};
    memcpy(io, l, sizeof l);
    return 7;
}

/* The refusal: a dispatch of `label` whose invocations would run `iters`
 * loop iterations where the device stops them. */
static nb_status loop_check(const nm_model *m, const char *kernel_name, const char *label, uint64_t iters)
{
    const nb_device_info *d = nb_context_device(m->ctx);
    if (!d->max_loop_iterations || iters < d->max_loop_iterations)
        return NB_OK;
    return nb_error(NB_ERR_UNSUPPORTED,
                    "kernel '%s' (%s) would run up to %llu loop iterations per invocation; '%s' silently stops "
                    "an invocation's loops after %u, so it is not run",
                    kernel_name, label, (unsigned long long)iters, d->name, d->max_loop_iterations);
}

/* Fits the batch-dependent work of the model to the loop budget before
 * anything is made: spectral_mix's traces per invocation, and the
 * micro-batch (the spectral weight gradient loops over its traces; the
 * partial rows of the weight gradients grow with it). Then every kernel's
 * count at the full micro-batch is checked against the cap, so a model
 * that cannot run is refused at creation, by kernel. */
/* The weight gradients' partial rows of a micro-batch of mb traces live in
 * one binding (m->part: the most rows of any layer times the longest row,
 * as the kernels size it): its bytes, whole vec4. */
static uint64_t part_bytes(const nm_model *m, uint64_t mb)
{
    uint32_t io[8][2];
    uint32_t nl = wgrad_layers(m, io);
    uint64_t rows_max = 0, row_max = 0;
    for (uint32_t i = 0; i < nl; i++) {
        const uint32_t chunk = wgrad_chunk(m, io[i][0], io[i][1]), ph = wgrad_phases(m, io[i][0], io[i][1]);
        uint64_t rows = (mb * m->c.length + chunk - 1) / chunk * ph, row = (uint64_t)io[i][1] * (io[i][0] + 2);
        rows_max = rows > rows_max ? rows : rows_max;
        row_max = row > row_max ? row : row_max;
    }
    return (rows_max * row_max * 4 + 15) / 16 * 16;
}

/* Under the largest storage binding: a smaller micro-batch where the weight
 * gradients' partial rows would not fit one, or a refusal where even one
 * trace's do not. */
static nb_status range_plan(nm_model *m, uint64_t range)
{
    if (!m->training)
        return NB_OK;
    while (m->mb > 1 && part_bytes(m, m->mb) > range)
        m->mb = m->mb / 2 > 1 ? m->mb / 2 : 1;
    uint64_t need = part_bytes(m, m->mb);
    if (need > range)
        return nb_error(NB_ERR_UNSUPPORTED,
                        "training: the weight gradients' partial sums of one trace need %llu bytes in one binding, "
                        "over this device's largest storage binding of %llu bytes",
                        (unsigned long long)need, (unsigned long long)range);
    return NB_OK;
}

static nb_status loop_plan(nm_model *m)
{
    const nm_config *c = &m->c;
    const uint64_t budget = loop_budget(m), C = c->width, E = c->mlp_channels, N = c->length;
    m->mix_bg = 8; /* lavapipe, batch 16: 4 -> 8 took the mix from 22.9 to 17.0 ms */
    while (m->mix_bg > 1 && it_mix(C, m->mix_bg) > budget)
        m->mix_bg /= 2;
    if (m->training && budget != UINT64_MAX) {
        uint64_t ig = wgrad_ig((uint32_t)C), fixed = it_swgrad(C, ig, 0),
                 per = it_swgrad(C, ig, 1) - fixed;
        uint64_t fit = budget > fixed ? (budget - fixed) / per : 0;
        uint32_t io[8][2];
        uint32_t nl = wgrad_layers(m, io);
        for (uint32_t i = 0; i < nl; i++) {
            const uint32_t chunk = wgrad_chunk(m, io[i][0], io[i][1]), ph = wgrad_phases(m, io[i][0], io[i][1]);
            uint64_t rows_fit = budget / ph * chunk / N; /* partial rows: cdiv(b N, chunk) ph */
            if (rows_fit < fit)
                fit = rows_fit;
        }
        if (fit >= 1 && fit < m->mb)
            m->mb = (uint32_t)fit;
    }
    /* every kernel at the full micro-batch, against the cap itself */
    const uint64_t mb = m->mb, I = m->I;
    typedef struct {
        const char *kernel, *label;
        uint64_t iters;
    } count;
    count k[16] = {{"grid", "grid", c->grid ? it_grid(c->in_channels) : 0},
               {"mlp_fwd", "lifting", it_mlp_fwd(I, c->lifting_channels, C)},
               {"mlp_fwd", "projection", it_mlp_fwd(C, c->projection_channels, c->out_channels)},
               {"block_fwd", "block: skip, mlp, gate", it_block_fwd(C, E)},
               {"spectral_mix", "spectral mix", it_mix(C, m->mix_bg)},
               {"lp_loss", "loss", it_loss(2, (c->out_channels * N + 4095) / 4096)}};
    uint32_t nk = 6;
    if (m->training) {
        uint64_t ig = wgrad_ig((uint32_t)C);
        k[nk++] = (count){"block_bwd", "grad block: recompute, grad x", it_block_bwd(C, E)};
        k[nk++] = (count){"mlp_bwd", "grad x projection", it_mlp_bwd(C, c->projection_channels, c->out_channels)};
        k[nk++] = (count){"linear_bwd_x", "grad x lifting 1", it_linx(c->lifting_channels, C)};
        k[nk++] = (count){"spectral_wgrad", "grad W spectral", it_swgrad(C, ig, mb)};
    }
    for (uint32_t i = 0; i < nk; i++) {
        nb_status s = loop_check(m, k[i].kernel, k[i].label, k[i].iters);
        if (s)
            return s;
    }
    if (m->training) {
        uint32_t io[8][2];
        uint32_t nl = wgrad_layers(m, io);
        for (uint32_t i = 0; i < nl; i++) {
            const uint32_t chunk = wgrad_chunk(m, io[i][0], io[i][1]), ph = wgrad_phases(m, io[i][0], io[i][1]);
            char label[64];
            snprintf(label, sizeof label, "weight gradient of a %u -> %u layer", io[i][0], io[i][1]);
            nb_status s = loop_check(m, "linear_bwd_w", label, it_wgrad(m, io[i][0], io[i][1], chunk));
            if (!s)
                s = loop_check(m, "reduce_rows", label, it_reduce((mb * N + chunk - 1) / chunk * ph));
            if (s)
                return s;
        }
    }
    return NB_OK;
}

static nb_status lin_bwd_w(nm_model *m, nb_kernel **k, uint32_t cin, uint32_t cout, int bias, int gate, int xgelu)
{
    uint32_t two, twi, phases;
    int dot;
    wgrad_shape(m, cin, cout, &two, &twi, &dot, &phases);
    defs d = {.n = 0};
    def(&d, "CIN", cin);
    def(&d, "COUT", cout);
    def(&d, "TWO", two);
    def(&d, "TWI", twi);
    def(&d, "DOT", dot);
    def(&d, "PH", phases);
    def(&d, "BIAS", bias);
    def(&d, "GATE", gate);
    def(&d, "XGELU", xgelu);
    const uint32_t chunk = wgrad_chunk(m, cin, cout);
    def(&d, "CHUNK", chunk);
    def(&d, "TEXEL", m->texel);
    nb_access in = in_access(m), acc[4] = {in, in, NB_WRITE, in};
    uint32_t row = cout * cin + (uint32_t)(bias + gate) * cout;
    if (row > m->row_max)
        m->row_max = row;
    uint32_t rows = (uint32_t)(((uint64_t)m->mb * m->c.length + chunk - 1) / chunk) * phases;
    if (rows > m->rows_max)
        m->rows_max = rows;
    return kernel(m, k, "linear_bwd_w", d.p, gate ? 4 : 3, acc, 8);
}


/* mlp_fwd (bwd = 0): the lifting or the projection, cin -> hid -> cout;
 * training saves the hidden layer before and after its GELU for the
 * backward pass. mlp_bwd (bwd = 1): its input gradients. */
static nb_status mlp_kernel(nm_model *m, nb_kernel **k, int bwd, uint32_t cin, uint32_t hid, uint32_t cout)
{
    defs d = {.n = 0};
    def(&d, "CIN", cin);
    def(&d, "HID", hid);
    def(&d, "COUT", cout);
    def(&d, "UBO", m->ubo);
    def(&d, "TEXEL", m->texel);
    if (!bwd)
        def(&d, "SAVE", m->training);
    nb_access acc[6];
    uint32_t n = 0;
    for (int i = 0; i < (m->ubo ? 2 : 1); i++)
        acc[n++] = m->ubo ? NB_UNIFORM : NB_READ;
    uint32_t reads = bwd ? 2 : 1, writes = bwd || m->training ? 2 : 1;
    for (uint32_t i = 0; i < reads + writes; i++)
        acc[n++] = i >= reads ? NB_WRITE : in_access(m);
    return kernel(m, k, bwd ? "mlp_bwd" : "mlp_fwd", d.p, n, acc, 24);
}

/* block_fwd (bwd = 0) or block_bwd (bwd = 1) for blocks with or without
 * the activation after them. */
static nb_status blk_kernel(nm_model *m, nb_kernel **k, int bwd, int act, int gv2)
{
    const nm_config *c = &m->c;
    defs d = {.n = 0};
    def(&d, "C", c->width);
    def(&d, "E", c->mlp_channels);
    def(&d, "ACT", act);
    def(&d, "UBO", m->ubo);
    def(&d, "TEXEL", m->texel);
    if (!bwd)
        def(&d, "SAVE_Z", m->training);
    else
        def(&d, "GV2", gv2);
    nb_access acc[3 + 10];
    uint32_t n = 0;
    for (int i = 0; i < (m->ubo ? 3 : 1); i++)
        acc[n++] = m->ubo ? NB_UNIFORM : NB_READ;
    uint32_t reads = bwd ? 3 + (uint32_t)gv2 : 2, writes = bwd ? 5 : 1 + (uint32_t)m->training;
    for (uint32_t i = 0; i < reads; i++)
        acc[n++] = in_access(m);
    for (uint32_t i = 0; i < writes; i++)
        acc[n++] = NB_WRITE;
    return kernel(m, k, bwd ? "block_bwd" : "block_fwd", d.p, n, acc, 36);
}

static nb_status ewise(nm_model *m, nb_kernel **k, int op)
{
    defs d = {.n = 0};
    def(&d, "OP", op);
    nb_access acc[3] = {NB_READ, op == 2 ? NB_READ_WRITE : NB_WRITE, NB_READ};
    return kernel(m, k, "ewise", d.p, op == 4 ? 3 : 2, acc, 4);
}

static int act_on(const nm_config *c, uint32_t j) { return j + 1 < c->blocks || c->last_block_activation; }

static uint64_t off_of(const nm_param *t, uint32_t n, const char *fmt, uint32_t j)
{
    char name[64];
    snprintf(name, sizeof name, fmt, j);
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return t[i].offset;
    return 0;
}

static nb_status make_kernels(nm_model *m)
{
    const nm_config *c = &m->c;
    const uint32_t I = m->I, C = c->width, L = c->lifting_channels, E = c->mlp_channels, H = c->projection_channels,
                   O = c->out_channels;
    nb_status s = NB_OK;
    defs d = {.n = 0};
#define TRY(x)                                                                                     \
    if ((s = (x)))                                                                                 \
    return s
    if (c->grid) {
        def(&d, "CIN", c->in_channels);
        def(&d, "TEXEL", m->texel);
        nb_access acc[2] = {in_access(m), NB_WRITE};
        TRY(kernel(m, &m->k_grid, "grid", d.p, 2, acc, 8));
    }
    TRY(mlp_kernel(m, &m->k_lift, 0, I, L, C));
    /* the block variants in use: with the activation, without (last block) */
    const int used[2] = {!c->last_block_activation, c->blocks > 1 || c->last_block_activation};
    for (int act = 0; act < 2; act++)
        if (used[act])
            TRY(blk_kernel(m, &m->k_blk[act], 0, act, 0));
    /* backward: the last block first, with its gradient in one part; the
     * others (all activated) with the spectral part added on load */
    if (m->training) {
        TRY(blk_kernel(m, &m->k_blk_bwd[c->last_block_activation][0], 1, c->last_block_activation, 0));
        if (c->blocks > 1)
            TRY(blk_kernel(m, &m->k_blk_bwd[1][1], 1, 1, 1));
    }
    TRY(mlp_kernel(m, &m->k_proj, 0, C, H, O));
    /* The spectral kernels read complex values two to a texel: the weights
     * then start at an even float offset, as they do unless a width is odd. */
    int st = m->texel;
    for (uint32_t j = 0; j < c->blocks; j++)
        st = st && m->bo[j].spec_w % 2 == 0;
    const nb_access sin = st ? NB_TEXEL : NB_READ;
    {
        defs e = {.n = 0};
        def(&e, "C", C);
        def(&e, "M", c->modes);
        def(&e, "BACKWARD", 0);
        def(&e, "BG", m->mix_bg);
        def(&e, "TEXEL", st);
        nb_access acc[4] = {sin, sin, NB_WRITE, NB_WRITE};
        TRY(kernel(m, &m->k_mix, "spectral_mix", e.p, 4, acc, 16));
    }
    if (!m->training)
        return NB_OK;
    {
        defs e = {.n = 0};
        def(&e, "C", C);
        def(&e, "M", c->modes);
        def(&e, "BACKWARD", 1);
        def(&e, "BG", m->mix_bg);
        def(&e, "TEXEL", st);
        nb_access acc[3] = {sin, sin, NB_WRITE};
        TRY(kernel(m, &m->k_mix_bwd, "spectral_mix", e.p, 3, acc, 16));
        defs w = {.n = 0};
        def(&w, "C", C);
        def(&w, "M", c->modes);
        def(&w, "IG", wgrad_ig(C));
        def(&w, "TEXEL", st);
        nb_access wacc[3] = {sin, sin, NB_READ_WRITE};
        TRY(kernel(m, &m->k_wgrad, "spectral_wgrad", w.p, 3, wacc, 12));
        nb_access racc[2] = {NB_READ, NB_READ_WRITE};
        TRY(kernel(m, &m->k_reduce, "reduce_rows", NULL, 2, racc, 28));
        nb_access aacc[4] = {NB_READ_WRITE, in_access(m), NB_READ_WRITE, NB_READ_WRITE};
        defs a = {.n = 0};
        def(&a, "TEXEL", m->texel);
        TRY(kernel(m, &m->k_adamw, "adamw", a.p, 4, aacc, 36));
    }
    TRY(ewise(m, &m->k_acc, 2));
    for (int p4 = 0; p4 < 2; p4++)
        for (int pass = 1; pass <= 3; pass++) {
            defs e = {.n = 0};
            def(&e, "P", p4 ? 4 : 2);
            def(&e, "PASS", pass);
            nb_access acc[5] = {NB_READ, NB_READ, pass == 1 ? NB_WRITE : NB_READ,
                                pass == 2 ? NB_WRITE : NB_READ, NB_WRITE};
            TRY(kernel(m, &m->k_loss[p4][pass - 1], "lp_loss", e.p, pass == 3 ? 5 : 4, acc, 16));
        }
    TRY(mlp_kernel(m, &m->k_proj_bwd, 1, C, H, O)); /* -> dL/dhp, dL/dv */
    TRY(lin_bwd_x(m, &m->bx_lift1, L, C)); /* -> dL/dhl */
    TRY(lin_bwd_w(m, &m->bw_proj1, H, O, 1, 0, 1)); /* input GELU(h): h is what the forward saved */
    TRY(lin_bwd_w(m, &m->bw_proj0, C, H, 1, 0, 0));
    TRY(lin_bwd_w(m, &m->bw_fc1, E, C, 1, 1, 0));
    for (int act = 0; act < 2; act++) /* fc0's input GELU(z), or z in a block without it */
        if (used[act])
            TRY(lin_bwd_w(m, &m->bw_fc0[act], C, E, 1, 0, act));
    TRY(lin_bwd_w(m, &m->bw_skip, C, C, 1, 0, 0)); /* bias = the spectral bias */
    TRY(lin_bwd_w(m, &m->bw_lift1, L, C, 1, 0, 1));
    TRY(lin_bwd_w(m, &m->bw_lift0, I, L, 1, 0, 0));
#undef TRY
    return NB_OK;
}

/* Every pointwise layer of the model, for its uniform buffers. */
static uint32_t layers_of(nm_model *m, layer **out, uint32_t cap)
{
    uint32_t n = 0;
    layer *fixed[] = {&m->lift0, &m->lift1, &m->proj0, &m->proj1};
    for (int i = 0; i < 4 && n < cap; i++)
        out[n++] = fixed[i];
    for (uint32_t j = 0; j < m->c.blocks && n + 3 <= cap; j++) {
        out[n++] = &m->bo[j].skip;
        out[n++] = &m->bo[j].fc0;
        out[n++] = &m->bo[j].fc1;
    }
    return n;
}

static nb_status buf(nm_model *m, nb_buffer **b, uint64_t floats)
{
    return nb_buffer_create(m->ctx, (floats ? floats : 1) * 4, NB_MEM_DEVICE, b);
}

static nb_status make_buffers(nm_model *m)
{
    const nm_config *c = &m->c;
    const uint64_t N = c->length, b = m->mb, C = c->width, NC = m->NC, M = c->modes;
    const uint64_t BCN = b * C * N, BCNC2 = b * C * NC * 2;
    nb_status s;
#define B(x, n)                                                                                    \
    if ((s = buf(m, &(x), (n))))                                                                   \
    return s
    B(m->prm, m->P);
    if (m->ubo) {
        layer *ls[4 + 3 * 64];
        uint32_t nl = layers_of(m, ls, sizeof ls / sizeof *ls);
        for (uint32_t i = 0; i < nl; i++) /* [W | bias | gate], rounded up to whole vec4 */
            B(ls[i]->ubo, ((uint64_t)ls[i]->cout * ls[i]->cin + 2 * ls[i]->cout + 3) / 4 * 4);
    }
    B(m->xin, b * c->in_channels * N);
    B(m->yout, b * c->out_channels * N);
    if (c->grid)
        B(m->a0, b * m->I * N);
    B(m->F, BCNC2);
    B(m->Y, BCNC2);
    B(m->sbuf, BCN);
    /* Inference keeps two block outputs and one spectrum; training keeps every
     * block's input x, z (before the activation) and spectrum for the
     * backward pass. */
    uint32_t nx = m->training ? c->blocks + 1 : 2, nz = m->training ? c->blocks : 1;
    m->xs = calloc(nx, sizeof *m->xs);
    m->zs = calloc(nz, sizeof *m->zs);
    m->ss = calloc(nz, sizeof *m->ss);
    if (!m->xs || !m->zs || !m->ss)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < nx; i++)
        B(m->xs[i], BCN);
    for (uint32_t i = 0; i < nz; i++)
        B(m->ss[i], b * C * M * 2);
    if (!m->training)
        return NB_OK;
    B(m->hl, b * c->lifting_channels * N);
    B(m->hp, b * c->projection_channels * N);
    for (uint32_t i = 0; i < nz; i++)
        B(m->zs[i], BCN);
    B(m->a, b * c->mlp_channels * N);
    B(m->grad, m->P);
    B(m->m1, m->P);
    B(m->m2, m->P);
    B(m->tgt, b * c->out_channels * N);
    B(m->gyo, b * c->out_channels * N);
    B(m->gap, b * c->projection_channels * N);
    B(m->gv, BCN);
    B(m->gx, BCN);
    B(m->gq, BCN);
    B(m->ga, b * c->mlp_channels * N);
    B(m->gz, BCN);
    B(m->gal, b * c->lifting_channels * N);
    B(m->part, (uint64_t)m->rows_max * m->row_max);
    m->loss_chunks = (uint32_t)((c->out_channels * N + 4095) / 4096);
    B(m->lpart, b * m->loss_chunks * 2);
    B(m->lstats, b * 2);
#undef B
    /* Moments start at zero. */
    nb_cmd *cmd;
    if ((s = nb_cmd_begin(m->ctx, 0, &cmd)))
        return s;
    s = nb_cmd_fill(cmd, m->m1, 0, m->P * 4, 0);
    if (!s)
        s = nb_cmd_fill(cmd, m->m2, 0, m->P * 4, 0);
    if (!s)
        s = nb_cmd_submit(cmd);
    nb_cmd_destroy(cmd);
    return s;
}

nb_status nm_model_create(nb_context *ctx, const nm_config *c, uint32_t max_batch, int training, nm_model **out)
{
    if (!ctx || !c || !out)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_model_create: NULL argument");
    *out = NULL;
    nb_status s = nm_config_check(c);
    if (s)
        return s;
    if (nb_context_backend(ctx) == NB_BACKEND_CPU && (s = nm_cpu_kernels_register()))
        return s;
    if (max_batch == 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "nm_model_create: max_batch 0");
    if (c->length % 4)
        return nb_error(NB_ERR_UNSUPPORTED, "the GPU operator needs a length that is a multiple of 4 (got %u; %u "
                                            "and %u are near)", c->length, c->length / 4 * 4, c->length / 4 * 4 + 4);
    nm_model *m = calloc(1, sizeof *m);
    if (!m)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->c = *c;
    m->training = training;
    m->max_batch = max_batch;
    m->P = nm_param_count(c);
    m->I = nm_config_lifting_in(c);
    m->NC = c->length / 2 + 1;
    {
        /* Packed spectra where the device's transforms take them (the CPU
         * backend): the kept modes only, so the spectrum buffers shrink by
         * n/2+1 over modes and the mixing reads contiguous rows. */
        nb_fft *pk = NULL;
        if (nb_fft_plan_packed(ctx, c->length, 1, NB_FFT_R2C, NB_FP32, c->modes, &pk) == NB_OK &&
            nb_fft_plan_packed(ctx, c->length, 1, NB_FFT_C2R, NB_FP32, c->modes, &pk) == NB_OK) {
            m->packed = 1;
            m->NC = c->modes;
        }
    }
    /* Choices that follow the device, each with an override (tests run both
     * sides on lavapipe): the weight-gradient tiles (NOBLE_WGRAD_TILES), and
     * texel reads where loads are vector gathers only through them (lavapipe:
     * docs/benchmarks.md; NOBLE_LOADS). The GPU configuration
     * (nb_context_gpu_config) takes the GPU's side of both on any device;
     * the loop plan below still follows the device's real loop cap. */
    int cpu = nb_context_device(ctx)->type == NB_DEVICE_CPU && !nb_context_gpu_config(ctx);
    if (env_choice("NOBLE_WGRAD_TILES", "cpu", "gpu", cpu, &m->cpu_tiles) ||
        env_choice("NOBLE_LOADS", "texel", "storage", cpu, &m->texel)) {
        free(m);
        return NB_ERR_INVALID_ARGUMENT;
    }
    /* The widest per-trace tensor decides how many traces one binding holds. */
    uint64_t widest = m->I;
    const uint32_t ch[] = {c->lifting_channels, c->projection_channels, c->width, c->mlp_channels, c->in_channels,
                           c->out_channels};
    for (size_t i = 0; i < sizeof ch / sizeof *ch; i++)
        if (ch[i] > widest)
            widest = ch[i];
    uint64_t per_trace = widest * (uint64_t)(c->length + 2) * 4;
    uint64_t range = nb_context_device(ctx)->max_storage_buffer_range;
    uint64_t fit = range / per_trace;
    if (fit == 0) {
        nm_model_destroy(m);
        return nb_error(NB_ERR_UNSUPPORTED,
                        "one trace of length %u needs %llu bytes (%.1f MiB) per tensor, over this device's largest "
                        "storage binding of %llu bytes (%.1f MiB)",
                        c->length, (unsigned long long)per_trace, (double)per_trace / 1048576.0,
                        (unsigned long long)range, (double)range / 1048576.0);
    }
    /* A texel binding holds at most max_texel_buffer_elements vec4: one trace
     * of every tensor, and the parameters and gradients (spectral mix, AdamW). */
    uint64_t max_texels = nb_context_device(ctx)->max_texel_buffer_elements;
    uint64_t fit_texel = max_texels * 16 / per_trace;
    if (m->texel && (fit_texel == 0 || (m->P + 3) / 4 > max_texels))
        m->texel = 0;
    if (m->texel && fit_texel < fit)
        fit = fit_texel;
    m->mb = max_batch < fit ? max_batch : (uint32_t)fit;
    /* A smaller micro-batch trades speed for device memory. */
    const char *env = getenv("NOBLE_MICROBATCH");
    if (env && atoi(env) > 0 && (uint32_t)atoi(env) < m->mb)
        m->mb = (uint32_t)atoi(env);
    /* under the storage range, then under the device's loop cap (lavapipe) */
    if ((s = range_plan(m, range)) || (s = loop_plan(m))) {
        free(m);
        return s;
    }

    nm_param t[8 + 8 * 64 + 8];
    uint32_t nt = nm_param_table(c, t, sizeof t / sizeof *t);
    const uint32_t I = m->I, L = c->lifting_channels, C = c->width, E = c->mlp_channels, H = c->projection_channels,
                   O = c->out_channels;
    m->lift0 = (layer){off_of(t, nt, "lifting.fcs.0.weight", 0), off_of(t, nt, "lifting.fcs.0.bias", 0), 0, I, L, NULL};
    m->lift1 = (layer){off_of(t, nt, "lifting.fcs.1.weight", 0), off_of(t, nt, "lifting.fcs.1.bias", 0), 0, L, C, NULL};
    m->proj0 =
        (layer){off_of(t, nt, "projection.fcs.0.weight", 0), off_of(t, nt, "projection.fcs.0.bias", 0), 0, C, H, NULL};
    m->proj1 =
        (layer){off_of(t, nt, "projection.fcs.1.weight", 0), off_of(t, nt, "projection.fcs.1.bias", 0), 0, H, O, NULL};
    /* Uniform buffers for the weights when the largest layer fits one. */
    uint32_t big = 0;
    const uint32_t sizes[] = {L * I, C * L, H * C, O * H, C * C, E * C};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (sizes[i] > big)
            big = sizes[i];
    m->ubo = (uint64_t)(big + 2 * 256) * 4 <= nb_context_device(ctx)->max_uniform_buffer_range;
    m->bo = calloc(c->blocks, sizeof *m->bo);
    if (!m->bo) {
        nm_model_destroy(m);
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (uint32_t j = 0; j < c->blocks; j++) {
        uint64_t gate = off_of(t, nt, "fno_blocks.channel_mlp_skips.%u.weight", j);
        m->bo[j].spec_w = off_of(t, nt, "fno_blocks.convs.%u.weight.tensor", j);
        m->bo[j].skip = (layer){off_of(t, nt, "fno_blocks.fno_skips.%u.conv.weight", j),
                                off_of(t, nt, "fno_blocks.convs.%u.bias", j), gate, C, C, NULL};
        m->bo[j].fc0 = (layer){off_of(t, nt, "fno_blocks.channel_mlp.%u.fcs.0.weight", j),
                               off_of(t, nt, "fno_blocks.channel_mlp.%u.fcs.0.bias", j), 0, C, E, NULL};
        m->bo[j].fc1 = (layer){off_of(t, nt, "fno_blocks.channel_mlp.%u.fcs.1.weight", j),
                               off_of(t, nt, "fno_blocks.channel_mlp.%u.fcs.1.bias", j), gate, E, C, NULL};
    }
    if ((s = make_kernels(m)) || (s = make_buffers(m)) || (s = nb_cmd_begin(ctx, 1, &m->cmd))) {
        nm_model_destroy(m);
        return s;
    }
    *out = m;
    return NB_OK;
}

void nm_model_destroy(nm_model *m)
{
    if (!m)
        return;
    nb_cmd_destroy(m->cmd);
    if (m->bo || m->ubo) {
        layer *ls[4 + 3 * 64];
        uint32_t nl = m->bo ? layers_of(m, ls, sizeof ls / sizeof *ls) : 0;
        for (uint32_t i = 0; i < nl; i++)
            nb_buffer_destroy(ls[i]->ubo);
    }
    nb_kernel_destroy(m->k_embed);
    nb_buffer_destroy(m->cur);
    nb_buffer_destroy(m->wbuf);
    nb_buffer_destroy(m->gext);
    free(m->hw);
    free(m->ht);
    free(m->hg);
    nb_kernel *ks[] = {m->k_grid,       m->k_lift,        m->k_proj,
                       m->k_blk[0],     m->k_blk[1],      m->k_mix,     m->k_mix_bwd, m->k_wgrad,
                       m->k_blk_bwd[0][0], m->k_blk_bwd[0][1], m->k_blk_bwd[1][0], m->k_blk_bwd[1][1],
                       m->k_reduce,  m->k_acc,     m->k_adamw,
                       m->k_proj_bwd,   m->bx_lift1,  m->bw_proj1,  m->bw_proj0,
                       m->bw_fc1,       m->bw_fc0[0],     m->bw_fc0[1], m->bw_skip,   m->bw_lift1,  m->bw_lift0};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++)
        nb_kernel_destroy(ks[i]);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++)
            nb_kernel_destroy(m->k_loss[a][b]);
    nb_buffer *bs[] = {m->prm, m->grad, m->m1,  m->m2, m->xin, m->tgt, m->yout, m->a0,  m->hl,
                       m->hp,  m->F,    m->Y,   m->sbuf, m->a,  m->gyo,
                       m->gap, m->gv,   m->gx,  m->gq, m->ga,  m->gz,   m->gal,
                       m->part, m->lpart, m->lstats};
    for (size_t i = 0; i < sizeof bs / sizeof *bs; i++)
        nb_buffer_destroy(bs[i]);
    uint32_t nx = m->training ? m->c.blocks + 1 : 2, nz = m->training ? m->c.blocks : 1;
    for (uint32_t i = 0; m->xs && i < nx; i++)
        nb_buffer_destroy(m->xs[i]);
    for (uint32_t i = 0; m->zs && i < nz; i++)
        nb_buffer_destroy(m->zs[i]);
    for (uint32_t i = 0; m->ss && i < nz; i++)
        nb_buffer_destroy(m->ss[i]);
    free(m->xs);
    free(m->zs);
    free(m->ss);
    free(m->bo);
    free(m->st);
    free(m);
}

const nm_config *nm_model_config(const nm_model *m) { return &m->c; }

/* ------------------------------------------------------------ recording */

static uint32_t cdiv(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }

typedef struct rec {
    nm_model *m;
    nb_cmd *c;
    uint32_t b; /* traces in this micro-batch */
    nb_status s;
    int embedded; /* the input comes from m->cur and m->wbuf */
} rec;

static nm_op_stat *stat_of(nm_model *m, const char *label)
{
    for (uint32_t i = 0; i < m->nst; i++)
        if (strcmp(m->st[i].label, label) == 0)
            return &m->st[i];
    if (m->nst == m->capst) {
        uint32_t cap = m->capst ? m->capst * 2 : 32;
        nm_op_stat *n = realloc(m->st, cap * sizeof *n);
        if (!n)
            return NULL;
        m->st = n;
        m->capst = cap;
    }
    nm_op_stat *o = &m->st[m->nst++];
    memset(o, 0, sizeof *o);
    snprintf(o->label, sizeof o->label, "%s", label);
    return o;
}

/* The work an op does, by its own count. */
/* FLOPs of a GELU and of GELU' per element, as the kernels evaluate them
 * (shaders/gelu.glsl; cpu_pointwise.c): the rational erf is 10 multiply-adds
 * and 8 more operations; GELU' adds the Gaussian's exp (a degree-5
 * polynomial after range reduction, 13 operations) and 5 more. They count
 * in the per-op FLOPs because they bind the pointwise kernels as much as
 * their matrix products do (docs/benchmarks.md). */
#define GELU_FLOPS 28.0
#define DGELU_FLOPS 54.0

static void work(rec *r, const char *label, double bytes, double flops)
{
    nm_op_stat *o = stat_of(r->m, label);
    if (o) {
        o->bytes += bytes;
        o->flops += flops;
    }
}

/* iters: the kernel's loop iterations per invocation in this dispatch (the
 * it_ functions), refused where the device would stop them. */
static void run(rec *r, const nb_kernel *k, uint32_t gx, uint32_t gy, uint32_t gz, nb_buffer *const *bufs,
                const void *push, const char *label, uint64_t iters)
{
    if (r->s || (r->s = loop_check(r->m, nb_kernel_name(k), label, iters)))
        return;
    uint32_t g[3] = {gx, gy, gz};
    r->s = nb_cmd_dispatch(r->c, k, g, bufs, push, label);
}

/* The spectral layers' transforms: every consumer reads only the kept modes,
 * so a plan may leave the other bins alone (nb_fft_plan_bins). */
static nb_fft *spectral_plan(rec *r, nb_fft_kind kind)
{
    nb_fft *p = NULL;
    if (!r->s)
        r->s = (r->m->packed ? nb_fft_plan_packed : nb_fft_plan_bins)(
            r->m->ctx, r->m->c.length, (uint64_t)r->b * r->m->c.width, kind, NB_FP32, r->m->c.modes, &p);
    return r->s ? NULL : p;
}

/* Zeros the bins past the kept modes of the C2R's input, where its plan reads them. */
static void zero_high_bins(rec *r, nb_buffer *Y)
{
    nb_fft *p = spectral_plan(r, NB_FFT_C2R);
    if (!r->s && !nb_fft_band_limited(p))
        r->s = nb_cmd_fill(r->c, Y, 0, (uint64_t)r->b * r->m->c.width * r->m->NC * 8, 0);
}

static void fft(rec *r, nb_fft_kind kind, nb_buffer *in, nb_buffer *out, const char *label)
{
    if (r->s)
        return;
    const double N = r->m->c.length, rows = (double)r->b * r->m->c.width;
    nb_fft *p = spectral_plan(r, kind);
    if (!r->s)
        r->s = nb_cmd_fft(r->c, p, in, out, label);
    work(r, label, rows * (N * 4 + (double)r->m->NC * 8), rows * 2.5 * N * log2(N));
}

/* After a submit: add the GPU time of each label to the call's stats. */
static nb_status submit(nm_model *m)
{
    nb_status s = nb_cmd_submit(m->cmd);
    if (s)
        return s;
    const nb_profile_row *rows;
    uint32_t n;
    if (nb_cmd_profile(m->cmd, &rows, &n) == NB_OK)
        for (uint32_t i = 0; i < n; i++) {
            nm_op_stat *o = stat_of(m, rows[i].label);
            if (o) {
                o->count += rows[i].count;
                o->ms += rows[i].total_ms;
            }
        }
    return NB_OK;
}

/* gx = (W^T g) GELU'(pre) */
static void linx(rec *r, const nb_kernel *k, layer l, uint32_t cin, uint32_t cout, nb_buffer *g, nb_buffer *gx,
                 nb_buffer *pre, const char *label)
{
    nb_buffer *b[4] = {l.ubo ? l.ubo : r->m->prm, g, gx, pre};
    uint32_t push[3] = {r->b, r->m->c.length, (uint32_t)l.w};
    run(r, k, cdiv(r->m->c.length / 4, 64), r->b, 1, b, push, label, it_linx(cin, cout));
    const double bn = (double)r->b * r->m->c.length;
    work(r, label, 4.0 * bn * (cout + 2.0 * cin), 2.0 * bn * cin * cout + (pre ? DGELU_FLOPS * bn * cin : 0.0));
}

/* Weight (and bias, gate) gradients: partial sums, then added into grad.
 * xgelu: the kernel takes GELU of x as it reads it (counted in its FLOPs). */
static void linw(rec *r, const nb_kernel *k, layer l, uint32_t cin, uint32_t cout, int bias, int gate, int xgelu,
                 nb_buffer *g, nb_buffer *x, nb_buffer *gsrc, const char *label)
{
    nm_model *m = r->m;
    uint32_t two, twi, phases;
    int dot;
    wgrad_shape(m, cin, cout, &two, &twi, &dot, &phases);
    const uint32_t chunk = wgrad_chunk(m, cin, cout);
    uint32_t chunks = cdiv((uint64_t)r->b * m->c.length, chunk), rows = chunks * phases;
    nb_buffer *b[4] = {g, x, m->part, gsrc};
    uint32_t push[2] = {r->b, m->c.length};
    run(r, k, chunks, 1, 1, b, push, label, it_wgrad(m, cin, cout, chunk));
    uint32_t width = cout * cin + (uint32_t)(bias + gate) * cout;
    const double bn = (double)r->b * m->c.length;
    work(r, label, 4.0 * (bn * (cout * (1.0 + gate) + cin) + (double)rows * width),
         bn * (2.0 * cin * cout + (xgelu ? GELU_FLOPS * cin : 0.0) + (bias + 2.0 * gate) * cout));
    work(r, "reduce partials", 4.0 * (double)rows * width * 2, (double)rows * width);
    uint32_t rp[7] = {rows, width, cout * cin, (uint32_t)l.w, bias ? cout : 0, (uint32_t)l.b, (uint32_t)l.g};
    nb_buffer *rb[2] = {m->part, m->grad};
    run(r, m->k_reduce, cdiv(width, 64), 1, 1, rb, rp, "reduce partials", it_reduce(rows));
}

static void ew(rec *r, const nb_kernel *k, nb_buffer *a, nb_buffer *out, nb_buffer *b, uint64_t n, const char *label)
{
    nb_buffer *bs[3] = {a, out, b};
    uint32_t push[1] = {(uint32_t)n};
    uint32_t groups = cdiv(cdiv(n, 4), 256), gy = 1; /* 4 floats per invocation */
    if (groups > 65535) {
        gy = cdiv(groups, 65535);
        groups = 65535;
    }
    run(r, k, groups, gy, 1, bs, push, label, IT_EWISE);
    work(r, label, 4.0 * (double)n * (b ? 3 : 2), (double)n);
}

/* One dispatch of mlp_fwd or mlp_bwd over layers l1 and l2: their weights,
 * then the nio tensors in io; floats: per position, the floats read and
 * written (the op's bytes for the profile). */
static void mlp_dispatch(rec *r, const nb_kernel *k, const layer *l1, const layer *l2, nb_buffer *const *io,
                         uint32_t nio, double floats, double gelu_flops, const char *label, uint64_t iters)
{
    nm_model *m = r->m;
    nb_buffer *b[6];
    uint32_t n = 0;
    if (m->ubo) {
        b[n++] = l1->ubo;
        b[n++] = l2->ubo;
    } else {
        b[n++] = m->prm;
    }
    for (uint32_t i = 0; i < nio; i++)
        b[n++] = io[i];
    uint32_t push[6] = {r->b, m->c.length, (uint32_t)l1->w, (uint32_t)l1->b, (uint32_t)l2->w, (uint32_t)l2->b};
    run(r, k, cdiv(m->c.length / 4, 64), r->b, 1, b, push, label, iters);
    const double bn = (double)r->b * m->c.length;
    work(r, label, 4.0 * bn * floats,
         2.0 * bn * ((double)l1->cin * l1->cout + (double)l2->cin * l2->cout) + gelu_flops * bn * l1->cout);
}

/* mlp_fwd: x through layers l1 and l2 into out; h (the hidden layer before
 * GELU) is written when training. */
static void mlp(rec *r, const nb_kernel *k, const layer *l1, const layer *l2, nb_buffer *x, nb_buffer *out,
                nb_buffer *h, const char *label)
{
    nb_buffer *io[3] = {x, out, h};
    int t = r->m->training;
    mlp_dispatch(r, k, l1, l2, io, t ? 3 : 2, l1->cin + l2->cout + (t ? (double)l1->cout : 0.0), GELU_FLOPS, label,
                 it_mlp_fwd(l1->cin, l1->cout, l2->cout));
}

/* mlp_bwd: from g = dL/d out and the saved h of layers l1, l2, the hidden
 * gradient gh and the input gradient gx. */
static void mlp_bwd(rec *r, const nb_kernel *k, const layer *l1, const layer *l2, nb_buffer *g, nb_buffer *h,
                    nb_buffer *gh, nb_buffer *gx, const char *label)
{
    nb_buffer *io[4] = {g, h, gh, gx};
    mlp_dispatch(r, k, l1, l2, io, 4, l2->cout + 2.0 * l1->cout + l1->cin, DGELU_FLOPS, label,
                 it_mlp_bwd(l1->cin, l1->cout, l2->cout));
}

/* One dispatch of block_fwd or block_bwd for block o: the weights, then
 * nr read and nw written tensors (io), each C or E channels wide. */
static void block(rec *r, const nb_kernel *k, const blk *o, int act, nb_buffer *const *io, uint32_t nr, uint32_t nw,
                  const char *label)
{
    nm_model *m = r->m;
    const nm_config *c = &m->c;
    nb_buffer *b[3 + 10];
    uint32_t n = 0;
    if (m->ubo) {
        b[n++] = o->skip.ubo;
        b[n++] = o->fc0.ubo;
        b[n++] = o->fc1.ubo;
    } else {
        b[n++] = m->prm;
    }
    for (uint32_t i = 0; i < nr + nw; i++)
        b[n++] = io[i];
    uint32_t push[9] = {r->b,           c->length,          (uint32_t)o->skip.w, (uint32_t)o->skip.b,
                        (uint32_t)o->fc0.w, (uint32_t)o->fc0.b, (uint32_t)o->fc1.w, (uint32_t)o->fc1.b,
                        (uint32_t)o->fc1.g};
    run(r, k, cdiv(c->length / 4, 64), r->b, 1, b, push, label,
        nw == 5 ? it_block_bwd(c->width, c->mlp_channels) : it_block_fwd(c->width, c->mlp_channels));
    /* tensors: C wide but for a and ga (E wide) in block_bwd's outputs */
    const double bn = (double)r->b * c->length, C = c->width, E = c->mlp_channels;
    double floats = (nr + nw) * C;
    if (nw == 5)
        floats -= 2 * (C - E);
    /* forward: Ws, W0, W1 and the GELUs of y, h and out (y and out where
     * act); backward: W0 again and W1 again where act (for out's GELU'),
     * then W1^T, W0^T, Ws^T, with GELU and GELU' of z (where act) and h
     * from one erf, and GELU' of out's argument (where act) */
    const double a = act ? 1.0 : 0.0;
    const double fl = nw == 5 ? 2.0 * (C * C + (3.0 + a) * C * E) + (DGELU_FLOPS + 1.0) * (a * C + E) +
                                    a * DGELU_FLOPS * C
                              : 2.0 * (C * C + 2.0 * C * E) + GELU_FLOPS * (E + 2.0 * a * C);
    work(r, label, 4.0 * bn * floats, bn * fl);
}

/* Copies each layer's weight, bias and gate from the flat parameter buffer
 * into its uniform buffer (contiguous pieces in one copy). */
static void record_weight_copies(rec *r)
{
    nm_model *m = r->m;
    if (!m->ubo)
        return;
    layer *ls[4 + 3 * 64];
    uint32_t nl = layers_of(m, ls, sizeof ls / sizeof *ls);
    for (uint32_t i = 0; i < nl && !r->s; i++) {
        const layer *l = ls[i];
        uint64_t wn = (uint64_t)l->cout * l->cin;
        uint64_t src[3] = {l->w, l->b, l->g}, dst[3] = {0, wn, wn + l->cout}, cnt[3] = {wn, l->cout, l->g ? l->cout : 0};
        for (int k = 0; k < 3 && !r->s; k++) {
            if (!cnt[k])
                continue;
            uint64_t s0 = src[k], d0 = dst[k], n = cnt[k];
            while (k + 1 < 3 && cnt[k + 1] && src[k + 1] == s0 + n && dst[k + 1] == d0 + n)
                n += cnt[++k];
            r->s = nb_cmd_copy(r->c, m->prm, s0 * 4, l->ubo, d0 * 4, n * 4);
        }
    }
}

static void record_forward(rec *r)
{
    nm_model *m = r->m;
    const nm_config *c = &m->c;
    const uint32_t N = c->length;
    record_weight_copies(r);
    nb_buffer *a0 = m->xin;
    if (r->embedded) {
        nb_buffer *b[3] = {m->cur, m->wbuf, c->grid ? m->a0 : m->xin};
        uint32_t push[3] = {r->b, N, 0};
        float inv = (float)(1.0 / m->emb.current_scale);
        memcpy(&push[2], &inv, 4);
        run(r, m->k_embed, cdiv(N, 64), r->b, 1, b, push, "embedding", it_embed(m->nw));
        work(r, "embedding", 4.0 * r->b * N * (2.0 + 2.0 * m->nw + c->grid) + 16.0 * r->b * m->nw,
             25.0 * r->b * N * m->nw);
        a0 = c->grid ? m->a0 : m->xin;
    } else if (c->grid) {
        nb_buffer *b[2] = {m->xin, m->a0};
        uint32_t push[2] = {r->b, N};
        run(r, m->k_grid, cdiv(N / 4, 64), r->b, 1, b, push, "grid", it_grid(c->in_channels));
        work(r, "grid", 4.0 * r->b * N * (2.0 * c->in_channels + 1), 0);
        a0 = m->a0;
    }
    mlp(r, m->k_lift, &m->lift0, &m->lift1, a0, m->xs[0], m->hl, "lifting");
    for (uint32_t j = 0; j < c->blocks; j++) {
        int act = act_on(c, j);
        nb_buffer *x = m->training ? m->xs[j] : m->xs[j % 2];
        nb_buffer *xo = m->training ? m->xs[j + 1] : m->xs[(j + 1) % 2];
        nb_buffer *S = m->ss[m->training ? j : 0];
        const blk *o = &m->bo[j];
        fft(r, NB_FFT_R2C, x, m->F, "spectral r2c");
        {
            nb_buffer *b[4] = {m->prm, m->F, m->Y, S};
            float inv_n = 1.0f / (float)N;
            uint32_t push[4] = {r->b, m->NC, 0, (uint32_t)o->spec_w};
            memcpy(&push[2], &inv_n, 4);
            zero_high_bins(r, m->Y);
            run(r, m->k_mix, cdiv((uint64_t)c->modes * cdiv(r->b, m->mix_bg), 64), 1, 1, b, push, "spectral mix",
                it_mix(c->width, m->mix_bg));
            work(r, "spectral mix", 8.0 * r->b * c->width * 3.0 * c->modes + 8.0 * c->width * c->width * c->modes,
                 8.0 * r->b * c->width * c->width * c->modes);
        }
        fft(r, NB_FFT_C2R, m->Y, m->sbuf, "spectral c2r");
        nb_buffer *io[4] = {x, m->sbuf, xo, m->training ? m->zs[j] : NULL};
        block(r, m->k_blk[act], o, act, io, 2, 1 + m->training, "block: skip, mlp, gate");
    }
    nb_buffer *vlast = m->training ? m->xs[c->blocks] : m->xs[c->blocks % 2];
    mlp(r, m->k_proj, &m->proj0, &m->proj1, vlast, m->yout, m->hp, "projection");
}

static void record_loss(rec *r, int p)
{
    nm_model *m = r->m;
    const uint32_t per = m->c.out_channels * m->c.length, chunk = 4096;
    int p4 = p == 4;
    uint32_t push[4] = {r->b, per, m->loss_chunks, chunk};
    nb_buffer *b[5] = {m->yout, m->tgt, m->lpart, m->lstats, m->gyo};
    run(r, m->k_loss[p4][0], m->loss_chunks, r->b, 1, b, push, "loss partials", it_loss(1, m->loss_chunks));
    run(r, m->k_loss[p4][1], cdiv(r->b, 64), 1, 1, b, push, "loss", it_loss(2, m->loss_chunks));
    run(r, m->k_loss[p4][2], cdiv(per, 64), r->b, 1, b, push, "loss gradient", it_loss(3, m->loss_chunks));
    work(r, "loss partials", 8.0 * r->b * per, 4.0 * r->b * per);
    work(r, "loss gradient", 12.0 * r->b * per, 4.0 * r->b * per);
}

static void record_backward(rec *r)
{
    nm_model *m = r->m;
    const nm_config *c = &m->c;
    const uint32_t N = c->length, C = c->width, E = c->mlp_channels, H = c->projection_channels,
                   L = c->lifting_channels;
    const uint64_t BCN = (uint64_t)r->b * C * N;
    linw(r, m->bw_proj1, m->proj1, H, c->out_channels, 1, 0, 0, m->gyo, m->hp, NULL, "grad W projection 1");
    mlp_bwd(r, m->k_proj_bwd, &m->proj0, &m->proj1, m->gyo, m->hp, m->gap, m->gv, "grad x projection");
    linw(r, m->bw_proj0, m->proj0, C, H, 1, 0, 0, m->gap, m->xs[c->blocks], NULL, "grad W projection 0");
    nb_buffer *gv = m->gv, *gx = m->gx;
    for (uint32_t j = c->blocks; j-- > 0;) {
        int act = act_on(c, j);
        const blk *o = &m->bo[j];
        nb_buffer *x = m->xs[j];
        /* recompute y and a from the saved z_j and x_j; the input gradients
         * of the skip, the channel MLP and the gate into gz and gx */
        /* the gradient of x_{j+1}: gv, plus (but for the last block) the
         * spectral part the previous iteration's C2R left in sbuf */
        int gv2 = j + 1 < c->blocks;
        nb_buffer *io[9] = {m->zs[j], x, gv, m->sbuf, m->a, m->gq, m->ga, m->gz, gx};
        if (!gv2)
            memmove(io + 3, io + 4, 5 * sizeof *io);
        block(r, m->k_blk_bwd[act][gv2], o, act, io, 3 + (uint32_t)gv2, 5, "grad block: recompute, grad x");
        linw(r, m->bw_fc1, o->fc1, E, C, 1, 1, 0, m->gq, m->a, x, "grad W mlp 1 + gate");
        linw(r, m->bw_fc0[act], o->fc0, C, E, 1, 0, act, m->ga, m->zs[j], NULL, "grad W mlp 0");
        linw(r, m->bw_skip, o->skip, C, C, 1, 0, 0, m->gz, x, NULL, "grad W skip + spectral bias");
        fft(r, NB_FFT_R2C, m->gz, m->F, "grad r2c");
        {
            nb_buffer *b[3] = {m->ss[j], m->F, m->grad};
            uint32_t push[3] = {r->b, m->NC, (uint32_t)o->spec_w};
            run(r, m->k_wgrad, cdiv((uint64_t)c->modes * (C / wgrad_ig(C)), 64), 1, 1, b, push, "grad W spectral",
                it_swgrad(C, wgrad_ig(C), r->b));
            work(r, "grad W spectral", 8.0 * r->b * C * c->modes * 2.0 + 16.0 * C * C * c->modes,
                 8.0 * r->b * C * C * c->modes);
            nb_buffer *bb[3] = {m->prm, m->F, m->Y};
            float inv_n = 1.0f / (float)N;
            uint32_t pm[4] = {r->b, m->NC, 0, (uint32_t)o->spec_w};
            memcpy(&pm[2], &inv_n, 4);
            zero_high_bins(r, m->Y);
            run(r, m->k_mix_bwd, cdiv((uint64_t)c->modes * cdiv(r->b, m->mix_bg), 64), 1, 1, bb, pm,
                "grad spectral mix", it_mix(C, m->mix_bg));
            work(r, "grad spectral mix", 8.0 * r->b * C * 2.0 * c->modes + 8.0 * C * C * c->modes,
                 8.0 * r->b * C * C * c->modes);
        }
        fft(r, NB_FFT_C2R, m->Y, m->sbuf, "grad c2r");
        nb_buffer *t = gv;
        gv = gx;
        gx = t;
    }
    ew(r, m->k_acc, m->sbuf, gv, NULL, BCN, "grad accumulate"); /* block 0's spectral part */
    linw(r, m->bw_lift1, m->lift1, L, C, 1, 0, 0, gv, m->hl, NULL, "grad W lifting 1");
    linx(r, m->bx_lift1, m->lift1, L, C, gv, m->gal, m->hl, "grad x lifting 1");
    linw(r, m->bw_lift0, m->lift0, m->I, L, 1, 0, 0, m->gal, c->grid ? m->a0 : m->xin, NULL, "grad W lifting 0");
}

/* ------------------------------------------------------------------ API */

/* NaN or infinity in an input is named (trace, channel, sample), not run. */
static nb_status check_finite(const float *v, uint32_t batch, uint32_t channels, uint32_t length, const char *what)
{
    const uint64_t n = (uint64_t)batch * channels * length;
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return nb_error(NB_ERR_INVALID_ARGUMENT, "%s is not finite at trace %llu, channel %llu, sample %llu (%g)",
                            what, (unsigned long long)(i / ((uint64_t)channels * length)),
                            (unsigned long long)(i / length % channels), (unsigned long long)(i % length), v[i]);
    return NB_OK;
}

static nb_status check_batch(const nm_model *m, uint32_t batch, const float *x)
{
    if (!x)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "NULL input");
    if (batch == 0 || batch > m->max_batch)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "batch %u (1 to %u for this model)", batch, m->max_batch);
    return check_finite(x, batch, m->c.in_channels, m->c.length, "the input");
}

nb_status nm_model_set_params(nm_model *m, const float *p)
{
    if (!p)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "NULL parameters");
    for (uint64_t i = 0; i < m->P; i++)
        if (!isfinite(p[i]))
            return nb_error(NB_ERR_INVALID_ARGUMENT, "parameter %llu is not finite", (unsigned long long)i);
    return nb_buffer_upload(m->prm, 0, p, m->P * 4);
}

nb_status nm_model_get_params(nm_model *m, float *p) { return nb_buffer_download(m->prm, 0, p, m->P * 4); }

nb_status nm_model_get_grads(nm_model *m, float *g)
{
    if (!m->training)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the model was created for inference: no gradients");
    return nb_buffer_download(m->grad, 0, g, m->P * 4);
}

nb_status nm_model_get_moments(nm_model *m, float *a, float *b)
{
    if (!m->training)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the model was created for inference: no optimiser state");
    nb_status s = nb_buffer_download(m->m1, 0, a, m->P * 4);
    return s ? s : nb_buffer_download(m->m2, 0, b, m->P * 4);
}

nb_status nm_model_set_moments(nm_model *m, const float *a, const float *b)
{
    if (!m->training)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the model was created for inference: no optimiser state");
    nb_status s = nb_buffer_upload(m->m1, 0, a, m->P * 4);
    return s ? s : nb_buffer_upload(m->m2, 0, b, m->P * 4);
}

/* Where a call's input comes from: full input channels x, or (embedded)
 * the current and the codes, with the target in mV. */
typedef struct input {
    const float *x;
    const float *current, *codes;
} input;

/* Puts traces [at, at + b) of the input on the device. */
static nb_status upload_input(nm_model *m, const input *in, uint32_t at, uint32_t b)
{
    const uint64_t N = m->c.length;
    if (!in->current)
        return nb_buffer_upload(m->xin, 0, in->x + at * (uint64_t)m->c.in_channels * N,
                                b * (uint64_t)m->c.in_channels * N * 4);
    nm_embed_cycles(&m->emb, in->codes + (uint64_t)at * m->emb.n_codes, b, (uint32_t)N, m->hw);
    nb_status s = nb_buffer_upload(m->cur, 0, in->current + at * N, b * N * 4);
    return s ? s : nb_buffer_upload(m->wbuf, 0, m->hw, (uint64_t)b * m->nw * 16);
}

static nb_status check_input(const nm_model *m, const input *in, uint32_t batch)
{
    if (!in->current)
        return check_batch(m, batch, in->x);
    if (!m->has_emb)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the model has no embedding (nm_model_set_embedding)");
    if (batch == 0 || batch > m->max_batch)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "batch %u (1 to %u for this model)", batch, m->max_batch);
    if (!in->codes)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "NULL codes");
    nb_status s = check_finite(in->current, batch, 1, m->c.length, "the current");
    return s ? s : check_finite(in->codes, batch, 1, m->emb.n_codes, "the codes");
}

static nb_status forward_in(nm_model *m, const input *in, uint32_t batch, float *y)
{
    nb_status s = check_input(m, in, batch);
    if (s || !y)
        return s ? s : nb_error(NB_ERR_INVALID_ARGUMENT, "NULL output");
    const uint64_t nout = (uint64_t)m->c.out_channels * m->c.length;
    m->nst = 0;
    for (uint32_t at = 0; at < batch; at += m->mb) {
        uint32_t b = batch - at < m->mb ? batch - at : m->mb;
        if ((s = upload_input(m, in, at, b)) || (s = nb_cmd_reset(m->cmd)))
            return s;
        rec r = {m, m->cmd, b, NB_OK, in->current != NULL};
        record_forward(&r);
        if (r.s)
            return r.s;
        if ((s = submit(m)) || (s = nb_buffer_download(m->yout, 0, y + at * nout, b * nout * 4)))
            return s;
    }
    return NB_OK;
}

nb_status nm_model_forward(nm_model *m, const float *x, uint32_t batch, float *y)
{
    input in = {x, NULL, NULL};
    return forward_in(m, &in, batch, y);
}

/* The extra host loss term of a call, if any. */
typedef struct extra {
    nm_loss_term fn;
    void *user;
    double sum;
} extra;

/* After the forward and the data loss of traces [at, at + b): the host term
 * on the prediction in mV, its gradient added to the device's dL/dy. */
static nb_status add_term(nm_model *m, rec *r, extra *x, uint32_t at, uint32_t b)
{
    const uint64_t N = m->c.length, n = (uint64_t)b * N;
    nb_status s;
    if (!m->gext && (s = buf(m, &m->gext, (uint64_t)m->mb * N)))
        return s;
    if (!m->hg && !(m->hg = malloc(((uint64_t)m->mb * N + 1) * sizeof *m->hg)))
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    if ((s = submit(m)) || (s = nb_buffer_download(m->yout, 0, m->ht, n * 4)))
        return s;
    const float sc = (float)m->emb.voltage_scale;
    for (uint64_t i = 0; i < n; i++)
        m->ht[i] *= sc;
    double v = x->fn(x->user, at, b, (uint32_t)N, m->ht, m->hg);
    if (!isfinite(v))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the extra loss term is not finite (%g)", v);
    x->sum += v;
    for (uint64_t i = 0; i < n; i++) /* dL/dy = dL/dV * voltage_scale */
        m->hg[i] *= sc;
    if ((s = nb_buffer_upload(m->gext, 0, m->hg, n * 4)) || (s = nb_cmd_reset(m->cmd)))
        return s;
    ew(r, m->k_acc, m->gext, m->gyo, NULL, n, "loss term");
    return r->s;
}

static nb_status backward_in(nm_model *m, const input *in, const float *target, uint32_t batch, int p, double *loss,
                             extra *x)
{
    nb_status s = check_input(m, in, batch);
    if (s)
        return s;
    if (!m->training)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the model was created for inference (training = 0)");
    if (!target)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "NULL target");
    if ((s = check_finite(target, batch, m->c.out_channels, m->c.length, "the target")))
        return s;
    if (p != 2 && p != 4)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "relative Lp loss: p = %d (2 or 4)", p);
    const uint64_t nout = (uint64_t)m->c.out_channels * m->c.length;
    double total = 0;
    m->nst = 0;
    for (uint32_t at = 0; at < batch; at += m->mb) {
        uint32_t b = batch - at < m->mb ? batch - at : m->mb;
        const float *tg = target + at * nout;
        if (in->current) { /* the network predicts V / voltage_scale */
            const float inv = (float)(1.0 / m->emb.voltage_scale);
            for (uint64_t i = 0; i < b * nout; i++)
                m->ht[i] = tg[i] * inv;
            tg = m->ht;
        }
        if ((s = upload_input(m, in, at, b)) || (s = nb_buffer_upload(m->tgt, 0, tg, b * nout * 4)) ||
            (s = nb_cmd_reset(m->cmd)))
            return s;
        if (at == 0 && (s = nb_cmd_fill(m->cmd, m->grad, 0, m->P * 4, 0)))
            return s;
        rec r = {m, m->cmd, b, NB_OK, in->current != NULL};
        record_forward(&r);
        record_loss(&r, p);
        if (!r.s && x && (s = add_term(m, &r, x, at, b)))
            return s;
        record_backward(&r);
        if (r.s)
            return r.s;
        if ((s = submit(m)))
            return s;
        float st[2 * 1024];
        for (uint32_t i = 0; i < b; i += 1024) {
            uint32_t k = b - i < 1024 ? b - i : 1024;
            if ((s = nb_buffer_download(m->lstats, (uint64_t)i * 8, st, k * 8)))
                return s;
            for (uint32_t t = 0; t < k; t++)
                total += st[2 * t];
        }
    }
    if (loss)
        *loss = total;
    if (!isfinite(total))
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the loss is not finite (%g): a target trace of zero norm, or a "
                                                 "diverged model", total);
    return NB_OK;
}

nb_status nm_model_backward(nm_model *m, const float *x, const float *target, uint32_t batch, int p, double *loss)
{
    input in = {x, NULL, NULL};
    return backward_in(m, &in, target, batch, p, loss, NULL);
}

/* One AdamW step (step counts from 1) on the gradient in m->grad. */
static nb_status adamw_in(nm_model *m, const nm_adamw *opt, uint64_t step)
{
    if (!opt || step == 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "AdamW needs options and a step counted from 1");
    if (!m->training)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the model was created for inference (training = 0)");
    nb_status s = nb_cmd_reset(m->cmd);
    if (s)
        return s;
    const double bc1 = 1.0 - pow(opt->beta1, (double)step), bc2 = 1.0 - pow(opt->beta2, (double)step);
    float pf[8] = {(float)opt->beta1,
                   (float)opt->beta2,
                   (float)(1.0 - opt->beta1),
                   (float)(1.0 - opt->beta2),
                   (float)opt->eps,
                   (float)(1.0 - opt->lr * opt->weight_decay),
                   (float)(opt->lr / bc1),
                   (float)(1.0 / sqrt(bc2))};
    uint32_t push[9];
    push[0] = (uint32_t)m->P;
    memcpy(&push[1], pf, sizeof pf);
    nb_buffer *b[4] = {m->prm, m->grad, m->m1, m->m2};
    rec r = {m, m->cmd, 0, NB_OK};
    uint32_t groups = cdiv(cdiv(m->P, 4), 256), gy = 1; /* four parameters per invocation */
    if (groups > 65535) {
        gy = cdiv(groups, 65535);
        groups = 65535;
    }
    run(&r, m->k_adamw, groups, gy, 1, b, push, "adamw", 0);
    work(&r, "adamw", 28.0 * m->P, 12.0 * m->P);
    if (r.s)
        return r.s;
    return submit(m);
}

static nb_status train_step_in(nm_model *m, const input *in, const float *target, uint32_t batch, int p,
                               const nm_adamw *opt, uint64_t step, double *loss, extra *x)
{
    if (!opt || step == 0)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "AdamW needs options and a step counted from 1");
    nb_status s = backward_in(m, in, target, batch, p, loss, x);
    return s ? s : adamw_in(m, opt, step);
}

nb_status nm_model_set_grads(nm_model *m, const float *g)
{
    if (!m->training)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the model was created for inference: no gradients");
    if (!g)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "NULL gradient");
    for (uint64_t i = 0; i < m->P; i++)
        if (!isfinite(g[i]))
            return nb_error(NB_ERR_INVALID_ARGUMENT, "gradient %llu is not finite", (unsigned long long)i);
    return nb_buffer_upload(m->grad, 0, g, m->P * 4);
}

nb_status nm_model_adamw_step(nm_model *m, const nm_adamw *opt, uint64_t step)
{
    m->nst = 0; /* op stats: this call's */
    return adamw_in(m, opt, step);
}

nb_status nm_model_train_step(nm_model *m, const float *x, const float *target, uint32_t batch, int p,
                              const nm_adamw *opt, uint64_t step, double *loss)
{
    input in = {x, NULL, NULL};
    return train_step_in(m, &in, target, batch, p, opt, step, loss, NULL);
}

nb_status nm_model_set_embedding(nm_model *m, const nm_embedding *e)
{
    nb_status s = nm_embedding_check(e);
    if (s)
        return s;
    if (nm_embedding_channels(e) != m->c.in_channels)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the embedding makes %u input channels, the model takes %u",
                        nm_embedding_channels(e), m->c.in_channels);
    if (m->c.out_channels != 1)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "the embedded path predicts one voltage (out_channels %u)",
                        m->c.out_channels);
    const uint32_t nw = nm_embed_frequencies(e);
    if (!m->has_emb || nw != m->nw) {
        nb_kernel_destroy(m->k_embed);
        nb_buffer_destroy(m->cur);
        nb_buffer_destroy(m->wbuf);
        free(m->hw);
        free(m->ht);
        m->k_embed = NULL;
        m->cur = m->wbuf = NULL;
        m->hw = m->ht = NULL;
        m->has_emb = 0;
        defs d = {.n = 0};
        def(&d, "NW", nw);
        def(&d, "GRID", m->c.grid ? 1 : 0);
        nb_access acc[3] = {NB_READ, NB_READ, NB_WRITE};
        if ((s = kernel(m, &m->k_embed, "nerf_input", d.p, 3, acc, 12)) ||
            (s = buf(m, &m->cur, (uint64_t)m->mb * m->c.length)) || (s = buf(m, &m->wbuf, (uint64_t)m->mb * nw * 4)))
            return s;
        m->hw = malloc(((uint64_t)m->mb * nw * 4 + 1) * sizeof *m->hw);
        m->ht = malloc(((uint64_t)m->mb * m->c.length + 1) * sizeof *m->ht);
        if (!m->hw || !m->ht)
            return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    m->emb = *e;
    m->nw = nw;
    m->has_emb = 1;
    return NB_OK;
}

void nm_model_paths_get(const nm_model *m, nm_model_paths *p)
{
    p->texel_loads = m->texel;
    p->cpu_tiles = m->cpu_tiles;
    p->microbatch = m->mb;
}

int nm_model_embedding(const nm_model *m, nm_embedding *e)
{
    if (m->has_emb && e)
        *e = m->emb;
    return m->has_emb;
}

nb_status nm_model_predict(nm_model *m, const float *current, const float *codes, uint32_t batch, float *voltage)
{
    if (!current)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "NULL current");
    input in = {NULL, current, codes};
    nb_status s = forward_in(m, &in, batch, voltage);
    if (s)
        return s;
    const float sc = (float)m->emb.voltage_scale;
    for (uint64_t i = 0; i < (uint64_t)batch * m->c.length; i++)
        voltage[i] *= sc;
    return NB_OK;
}

nb_status nm_model_train_step_embedded(nm_model *m, const float *current, const float *codes, const float *voltage,
                                       uint32_t batch, int p, const nm_adamw *opt, uint64_t step, double *loss)
{
    if (!current)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "NULL current");
    input in = {NULL, current, codes};
    return train_step_in(m, &in, voltage, batch, p, opt, step, loss, NULL);
}

nb_status nm_model_train_step_term(nm_model *m, const float *current, const float *codes, const float *voltage,
                                   uint32_t batch, int p, nm_loss_term term, void *user, const nm_adamw *opt,
                                   uint64_t step, double *loss, double *term_value)
{
    if (!current || !term)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "NULL current or loss term");
    input in = {NULL, current, codes};
    extra x = {term, user, 0.0};
    nb_status s = train_step_in(m, &in, voltage, batch, p, opt, step, loss, &x);
    if (!s && loss)
        *loss += x.sum;
    if (term_value)
        *term_value = x.sum;
    return s;
}

nb_status nm_model_backward_embedded(nm_model *m, const float *current, const float *codes, const float *voltage,
                                     uint32_t batch, int p, nm_loss_term term, void *user, double *loss,
                                     double *term_value)
{
    if (!current)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "NULL current");
    input in = {NULL, current, codes};
    extra x = {term, user, 0.0};
    nb_status s = backward_in(m, &in, voltage, batch, p, loss, term ? &x : NULL);
    if (!s && loss)
        *loss += x.sum;
    if (term_value)
        *term_value = x.sum;
    return s;
}

nb_status nm_model_op_stats(const nm_model *m, const nm_op_stat **stats, uint32_t *n)
{
    *stats = m->st;
    *n = m->nst;
    return NB_OK;
}

uint64_t nm_model_device_bytes(const nm_model *m)
{
    nb_memory_stats st;
    nb_memory_stats_get(m->ctx, &st);
    return st.used_bytes;
}
