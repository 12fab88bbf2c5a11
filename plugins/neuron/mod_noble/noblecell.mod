COMMENT
NobleCell: an artificial cell whose spikes are NOBLE's prediction for a
current step injected into a neuron's soma (docs/plugin-abi.md, "NEURON, from
hoc: the NobleCell mechanism").

NOBLE maps a whole window of a step current, plus a point (I_thr, s_thr) of
the neuron embedding, to the somatic voltage over that window. It is
open-loop: the whole input must be known before the window starts, so a
NobleCell is a SOURCE of events only. It predicts its spikes once, at
initialization, and emits them through its NetCons at the predicted peak
times; it cannot answer events sent to it (they stop the run with an error),
a second step, or anything after its window.

  amp_pA   the step's amplitude, pA (NEURON's IClamp uses nA: 0.2 nA = 200 pA)
  hof      >= 0: the embedding point of that hall-of-fame model of the
           checkpoint (its training models); -1: I_thr and s_thr below
  I_thr    pA, s_thr Hz/pA: the embedding point when hof is -1
  del, dur ms: the step's onset from the window's start and its duration;
           -1 (the default): the checkpoint's own (15 and 400 ms for the
           shipped pvalb-reduced.h5), the only placement NOBLE accepts
  start    ms: the simulation time at which the cell's window begins (>= the
           time of finitialize); spikes come at start + the predicted times
  nspike   (after finitialize) the spikes predicted in the window
  spike_time(k)  the k-th predicted spike, ms of simulation time
  vm(t)    the predicted somatic voltage (mV) at simulation time t inside
           the window (linear between the window's samples)

The checkpoint is process-wide, one model shared by every NobleCell: open it
with open_noble("ckpt.h5") (noble.mod) or set NOBLE_CHECKPOINT. Every
NobleCell registers itself at INITIAL and sends itself an event at the
initialization time; the first of these events predicts all registered cells
in one batched call of the embedding ABI (noble_predict), and each cell then
schedules its spikes as self-events that call net_event.

THREADSAFE: the ABI's model is used by one thread at a time; every use of the
shared model and of the registry is behind one pthread mutex.

Compiles as C (NEURON 8.2's nocmodl) and as C++ (NEURON 9's): build it with
nrnivmodl -incflags "-I PREFIX/include" -loadflags "-L PREFIX/lib -lnoble
-Wl,-rpath,PREFIX/lib" against an installed libnoble (cmake --install).
ENDCOMMENT

NEURON {
    THREADSAFE
    ARTIFICIAL_CELL NobleCell
    RANGE amp_pA, hof, I_thr, s_thr, del, dur, start, nspike
}

PARAMETER {
    amp_pA = 0 (pA)
    hof = -1 (1)
    I_thr = 0 (pA)
    s_thr = 0 (Hz/pA)
    del = -1 (ms)
    dur = -1 (ms)
    start = 0 (ms)
}

ASSIGNED {
    nspike (1)
    slot (1)
    gen (1)
}

VERBATIM
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* The mod's variables are macros in the generated code (s_thr among them,
 * also a field of noble_cell): hide the one the header and this code use. */
#pragma push_macro("s_thr")
#undef s_thr
#include <noble_embed.h>

#ifdef __cplusplus
#define NBC_CAST(type, e) static_cast<type>(e)
#define NBC_EXTERN extern "C"
#else
#define NBC_CAST(type, e) ((type)(e))
#define NBC_EXTERN
/* NEURON 8.2's generated C does not include oc_ansi.h; NEURON 9's C++ does. */
extern char *hoc_gargstr(int);
#endif

/* One registered cell of the current initialization. */
typedef struct nbc_entry {
    noble_cell c;
    double onset, length; /* the step, ms from the window's start (resolved from -1) */
    uint32_t nspk;        /* spikes predicted */
    double *spk;          /* their peak times, ms from the window's start */
    float *volt;          /* the window's voltage, nbc_samples at the model's dt */
} nbc_entry;

static pthread_mutex_t nbc_mu = PTHREAD_MUTEX_INITIALIZER;
static noble_model *nbc_model;    /* the process-wide model */
static noble_info nbc_info;
static uint32_t nbc_samples;
static int nbc_atexit_done;
static nbc_entry *nbc_reg;        /* cells registered since the last prediction */
static size_t nbc_n, nbc_cap;
static int nbc_open_batch;        /* 1 while cells register (INITIAL), 0 once predicted */
static double nbc_gen;            /* counts initializations */
static char nbc_batch_err[2048];  /* the prediction's failure, for every cell of it */

static void nbc_free_reg(void)
{
    size_t i;
    for (i = 0; i < nbc_n; ++i) {
        free(nbc_reg[i].spk);
        free(nbc_reg[i].volt);
    }
    free(nbc_reg);
    nbc_reg = NULL;
    nbc_n = nbc_cap = 0;
}

static void nbc_atexit(void)
{
    pthread_mutex_lock(&nbc_mu);
    nbc_free_reg();
    noble_close(nbc_model);
    nbc_model = NULL;
    pthread_mutex_unlock(&nbc_mu);
}

/* Raises a hoc error with msg (copied: the mutex is released first, as
 * hoc_execerror does not return: longjmp in NEURON 8, an exception in 9). */
static void nbc_fail_unlock(const char *msg)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", msg);
    pthread_mutex_unlock(&nbc_mu);
    hoc_execerror(buf, NBC_CAST(char *, 0));
}

/* Opens path as the process-wide model (mutex held); 0 or a message in err. */
static int nbc_open_locked(const char *path, const char *who, char *err, size_t errlen)
{
    noble_model *m = NULL;
    noble_info in;
    uint32_t ns;
    const char *backend = getenv("NOBLE_BACKEND");
    if (!path || !*path) {
        snprintf(err, errlen, "%s: an empty checkpoint path", who);
        return -1;
    }
    if (noble_open(path, backend && *backend ? backend : "auto", -1, 0, &m) != NOBLE_OK) {
        snprintf(err, errlen, "%s: %s", who, noble_last_error());
        return -1;
    }
    if (noble_get_info(m, &in) != NOBLE_OK || (ns = noble_output_samples(m, in.dt_ms)) == 0) {
        snprintf(err, errlen, "%s: %s", who, noble_last_error());
        noble_close(m);
        return -1;
    }
    noble_close(nbc_model);
    nbc_free_reg(); /* cells predicted by the previous model have no prediction now */
    nbc_open_batch = 0;
    nbc_batch_err[0] = 0;
    nbc_gen += 1;
    nbc_model = m;
    nbc_info = in;
    nbc_samples = ns;
    if (!nbc_atexit_done) {
        atexit(nbc_atexit);
        nbc_atexit_done = 1;
    }
    return 0;
}

/* open_noble(path): hoc's string argument 1. */
NBC_EXTERN double nbc_open_hoc(void)
{
    char err[2048];
    const char *path = hoc_gargstr(1);
    pthread_mutex_lock(&nbc_mu);
    if (nbc_open_locked(path, "open_noble", err, sizeof err))
        nbc_fail_unlock(err);
    pthread_mutex_unlock(&nbc_mu);
    return 0;
}

NBC_EXTERN double nbc_close_hoc(void)
{
    pthread_mutex_lock(&nbc_mu);
    nbc_free_reg();
    nbc_open_batch = 0;
    noble_close(nbc_model);
    nbc_model = NULL;
    pthread_mutex_unlock(&nbc_mu);
    return 0;
}

/* The model, opened from NOBLE_CHECKPOINT if open_noble was not called
 * (mutex held; raises on failure). */
static void nbc_need_model(const char *who)
{
    char err[2048], msg[2304];
    const char *env;
    if (nbc_model)
        return;
    env = getenv("NOBLE_CHECKPOINT");
    if (!env || !*env) {
        snprintf(msg, sizeof msg, "%s: no NOBLE checkpoint is open: call open_noble(\"ckpt.h5\") "
                 "(hoc; h.open_noble in Python) or set NOBLE_CHECKPOINT before finitialize()", who);
        nbc_fail_unlock(msg);
    }
    if (nbc_open_locked(env, who, err, sizeof err)) {
        snprintf(msg, sizeof msg, "%s (NOBLE_CHECKPOINT)", err);
        nbc_fail_unlock(msg);
    }
}

/* info: 0 window_ms, 1 step_start_ms, 2 step_duration_ms, 3 hof_models,
 * 4 dt_ms, 5 samples. */
NBC_EXTERN double nbc_info_hoc(int what)
{
    double r = 0;
    pthread_mutex_lock(&nbc_mu);
    nbc_need_model("noble");
    switch (what) {
    case 0: r = nbc_info.window_ms; break;
    case 1: r = nbc_info.step_start_ms; break;
    case 2: r = nbc_info.step_duration_ms; break;
    case 3: r = nbc_info.hof_models; break;
    case 4: r = nbc_info.dt_ms; break;
    default: r = nbc_info.samples; break;
    }
    pthread_mutex_unlock(&nbc_mu);
    return r;
}

/* A failure at INITIAL: the initialization stops there, so the cells it
 * registered are dropped (the next one starts afresh), then raises. */
static void nbc_fail_enlist(const char *msg)
{
    nbc_free_reg();
    nbc_open_batch = 0;
    nbc_fail_unlock(msg);
}

/* INITIAL: registers a cell for this initialization's prediction; returns
 * its slot and sets *gen. */
static double nbc_enlist(double amp, double hofi, double ithr, double sthr, double onset, double length,
                         double wstart, double tnow, double *gn)
{
    char msg[1024];
    nbc_entry *e;
    pthread_mutex_lock(&nbc_mu);
    nbc_need_model("NobleCell");
    if (!isfinite(amp) || !isfinite(ithr) || !isfinite(sthr) || !isfinite(onset) || !isfinite(length)) {
        snprintf(msg, sizeof msg, "NobleCell: amp_pA = %g, I_thr = %g, s_thr = %g, del = %g, dur = %g: "
                 "expected finite numbers", amp, ithr, sthr, onset, length);
        nbc_fail_enlist(msg);
    }
    if (!(hofi == -1 || (hofi >= 0 && hofi == floor(hofi) && hofi < nbc_info.hof_models))) {
        snprintf(msg, sizeof msg, "NobleCell: hof = %g: expected -1 (use I_thr, s_thr) or the index of one of "
                 "the checkpoint's %u hall-of-fame models (0 .. %d)", hofi, nbc_info.hof_models,
                 (int) nbc_info.hof_models - 1);
        nbc_fail_enlist(msg);
    }
    if (!isfinite(wstart) || wstart < tnow) {
        snprintf(msg, sizeof msg, "NobleCell: start = %g ms is before the initialization time %g ms: the "
                 "window's spikes must all lie ahead of finitialize()", wstart, tnow);
        nbc_fail_enlist(msg);
    }
    if (!nbc_open_batch) { /* the first cell of a new initialization */
        nbc_free_reg();
        nbc_open_batch = 1;
        nbc_batch_err[0] = 0;
        nbc_gen += 1;
    }
    if (nbc_n == nbc_cap) {
        size_t cap = nbc_cap ? 2 * nbc_cap : 64;
        nbc_entry *r = NBC_CAST(nbc_entry *, realloc(nbc_reg, cap * sizeof *r));
        if (!r)
            nbc_fail_enlist("NobleCell: out of memory");
        nbc_reg = r;
        nbc_cap = cap;
    }
    e = &nbc_reg[nbc_n];
    memset(e, 0, sizeof *e);
    e->c.amplitude_pA = amp;
    e->c.hof_model = NBC_CAST(int32_t, hofi);
    e->c.I_thr_pA = ithr;
    e->c.s_thr = sthr;
    e->onset = onset == -1 ? nbc_info.step_start_ms : onset;
    e->length = length == -1 ? nbc_info.step_duration_ms : length;
    *gn = nbc_gen;
    pthread_mutex_unlock(&nbc_mu);
    return NBC_CAST(double, nbc_n++);
}

/* Predicts every registered cell (mutex held), one noble_predict per step
 * placement; 0 or a message in nbc_batch_err. */
static int nbc_predict_all(void)
{
    size_t i, j, k, ng;
    size_t *idx = NBC_CAST(size_t *, malloc((nbc_n ? nbc_n : 1) * sizeof *idx));
    char *done = NBC_CAST(char *, calloc(nbc_n ? nbc_n : 1, 1));
    noble_cell *cells = NBC_CAST(noble_cell *, malloc((nbc_n ? nbc_n : 1) * sizeof *cells));
    float *volt = NULL;
    double *spk = NULL;
    uint32_t *cnt = NULL, cap = 256;
    int rc = -1;
    if (!idx || !done || !cells)
        goto oom;
    for (i = 0; i < nbc_n; ++i) {
        if (done[i])
            continue;
        for (ng = 0, j = i; j < nbc_n; ++j)
            if (!done[j] && nbc_reg[j].onset == nbc_reg[i].onset && nbc_reg[j].length == nbc_reg[i].length) {
                idx[ng] = j;
                cells[ng++] = nbc_reg[j].c;
                done[j] = 1;
            }
        free(volt);
        free(spk);
        free(cnt);
        volt = NBC_CAST(float *, malloc(ng * nbc_samples * sizeof *volt));
        spk = NBC_CAST(double *, malloc(ng * cap * sizeof *spk));
        cnt = NBC_CAST(uint32_t *, malloc(ng * sizeof *cnt));
        if (!volt || !spk || !cnt)
            goto oom;
        for (;;) {
            uint32_t most = 0;
            if (noble_predict(nbc_model, cells, NBC_CAST(uint32_t, ng), nbc_reg[i].onset, nbc_reg[i].length,
                              nbc_info.dt_ms, volt, spk, cap, cnt) != NOBLE_OK) {
                snprintf(nbc_batch_err, sizeof nbc_batch_err, "NobleCell: %s", noble_last_error());
                goto out;
            }
            for (k = 0; k < ng; ++k)
                most = cnt[k] > most ? cnt[k] : most;
            if (most <= cap)
                break;
            cap = most; /* more spikes than room: again with room for all */
            free(spk);
            spk = NBC_CAST(double *, malloc(ng * cap * sizeof *spk));
            if (!spk)
                goto oom;
        }
        for (k = 0; k < ng; ++k) {
            nbc_entry *e = &nbc_reg[idx[k]];
            e->nspk = cnt[k];
            e->spk = NBC_CAST(double *, malloc((cnt[k] ? cnt[k] : 1) * sizeof *e->spk));
            e->volt = NBC_CAST(float *, malloc(nbc_samples * sizeof *e->volt));
            if (!e->spk || !e->volt)
                goto oom;
            memcpy(e->spk, spk + k * cap, cnt[k] * sizeof *e->spk);
            memcpy(e->volt, volt + k * nbc_samples, nbc_samples * sizeof *e->volt);
        }
    }
    rc = 0;
    goto out;
oom:
    snprintf(nbc_batch_err, sizeof nbc_batch_err, "NobleCell: out of memory predicting %zu cells", nbc_n);
out:
    free(idx);
    free(done);
    free(cells);
    free(volt);
    free(spk);
    free(cnt);
    return rc;
}

/* The registered cell (mutex held; raises for a cell not initialized in the
 * latest initialization or not predicted yet). */
static nbc_entry *nbc_entry_of(double sl, double gn, const char *who)
{
    char msg[512];
    if (gn != nbc_gen || !(sl >= 0 && sl < NBC_CAST(double, nbc_n))) {
        snprintf(msg, sizeof msg, "NobleCell.%s: this cell has no prediction: it was created after the last "
                 "finitialize(), or another checkpoint was opened since", who);
        nbc_fail_unlock(msg);
    }
    if (nbc_batch_err[0])
        nbc_fail_unlock(nbc_batch_err);
    if (nbc_open_batch) {
        snprintf(msg, sizeof msg, "NobleCell.%s: the prediction comes at the initialization time's events: "
                 "call finitialize() first", who);
        nbc_fail_unlock(msg);
    }
    return &nbc_reg[NBC_CAST(size_t, sl)];
}

/* The event at the initialization time: predicts every registered cell
 * (the first such event of an initialization), returns this one's spikes. */
static double nbc_prepare(double sl, double gn)
{
    double n;
    pthread_mutex_lock(&nbc_mu);
    if (gn == nbc_gen && nbc_open_batch) {
        nbc_open_batch = 0;
        if (nbc_predict_all())
            for (size_t i = 0; i < nbc_n; ++i)
                nbc_reg[i].nspk = 0;
    }
    if (nbc_batch_err[0])
        nbc_fail_unlock(nbc_batch_err);
    n = nbc_entry_of(sl, gn, "prediction")->nspk;
    pthread_mutex_unlock(&nbc_mu);
    return n;
}

static double nbc_spike(double sl, double gn, double k)
{
    char msg[256];
    double r;
    nbc_entry *e;
    pthread_mutex_lock(&nbc_mu);
    e = nbc_entry_of(sl, gn, "spike_time");
    if (!(k >= 0 && k < e->nspk)) {
        snprintf(msg, sizeof msg, "NobleCell.spike_time(%g): the cell has %u predicted spikes", k, e->nspk);
        nbc_fail_unlock(msg);
    }
    r = e->spk[NBC_CAST(size_t, k)];
    pthread_mutex_unlock(&nbc_mu);
    return r;
}

static double nbc_voltage(double sl, double gn, double tw)
{
    char msg[512];
    double x, f, r;
    size_t i;
    nbc_entry *e;
    pthread_mutex_lock(&nbc_mu);
    e = nbc_entry_of(sl, gn, "vm");
    x = tw / nbc_info.dt_ms;
    if (!(x >= 0 && x <= nbc_samples - 1 + 1e-9)) {
        snprintf(msg, sizeof msg, "NobleCell.vm: %g ms from the window's start is outside NOBLE's window "
                 "(0 to %g ms): NOBLE predicts one window and nothing after it", tw,
                 (nbc_samples - 1) * nbc_info.dt_ms);
        nbc_fail_unlock(msg);
    }
    i = NBC_CAST(size_t, floor(x));
    if (i >= nbc_samples - 1)
        r = e->volt[nbc_samples - 1];
    else {
        f = x - NBC_CAST(double, i);
        r = (1 - f) * e->volt[i] + f * e->volt[i + 1];
    }
    pthread_mutex_unlock(&nbc_mu);
    return r;
}

/* An event sent to a NobleCell. On NEURON's thread 0 (the main thread) it
 * raises; on another thread (ParallelContext.nthread > 1, during fadvance)
 * hoc_execerror would leave NEURON 8's thread pool waiting for ever, so the
 * message is printed, the event dropped and the run stopped (stoprun). */
static void nbc_input(double tnow, int worker)
{
    char msg[512];
    snprintf(msg, sizeof msg, "NobleCell: an event arrived through a NetCon at t = %g ms: NOBLE is open-loop "
             "(it maps a whole window of a current step to the voltage, predicted before the window starts) "
             "and cannot answer synaptic input; a NobleCell is a source of events only", tnow);
    if (!worker)
        hoc_execerror(msg, NBC_CAST(char *, 0));
    fprintf(stderr, "%s (on a worker thread, where no hoc error can be raised: the run stops)\n", msg);
    fflush(stderr);
    stoprun = 1;
}
#pragma pop_macro("s_thr")
ENDVERBATIM

INITIAL {
    nspike = -1
    slot = enlist(t)
    net_send(0, 2)
}

NET_RECEIVE (w) {
    LOCAL k
    if (flag == 2) {
        : the initialization's event: the batch is predicted at the first one
        nspike = prepare()
        FROM k = 0 TO nspike - 1 {
            net_send(start + spike_at(k) - t, 1)
        }
    } else if (flag == 1) {
        net_event(t)
    } else {
        input(t)
    }
}

: Internal: registers this cell (INITIAL).
FUNCTION enlist(tnow (ms)) {
VERBATIM
    double g = 0;
    _lenlist = nbc_enlist(amp_pA, hof, I_thr, s_thr, del, dur, start, _ltnow, &g);
    gen = g;
ENDVERBATIM
}

: Internal: this cell's spikes, predicting the batch at the first call.
FUNCTION prepare() {
VERBATIM
    _lprepare = nbc_prepare(slot, gen);
ENDVERBATIM
}

: Internal: spike k, ms from the window's start.
FUNCTION spike_at(k) (ms) {
VERBATIM
    _lspike_at = nbc_spike(slot, gen, _lk);
ENDVERBATIM
}

: The k-th predicted spike (0 .. nspike-1), ms of simulation time.
FUNCTION spike_time(k) (ms) {
    spike_time = start + spike_at(k)
}

: The predicted somatic voltage at simulation time tt (within the window).
FUNCTION vm(tt (ms)) (mV) {
VERBATIM
    _lvm = nbc_voltage(slot, gen, _ltt - start);
ENDVERBATIM
}

: Internal: an event from a NetCon (refused).
PROCEDURE input(tnow (ms)) {
VERBATIM
    nbc_input(_ltnow, _nt == nrn_threads ? 0 : 1);
ENDVERBATIM
}
