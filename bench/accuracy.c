/* accuracy.c - the accuracy line of `noble bench runtime` and `noble bench
 * operator`: the NOBLE preset's forward on a backend against the double-
 * precision reference forward (models/reference.c) on the same fixed input
 * and parameters. The reference runs once per bench; each backend then runs
 * its forward on the same input. */
#include "nb_bench.h"
#include "nm_models.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct nbb_accuracy {
    nm_config c;
    uint32_t batch;
    float *x, *params; /* the input and parameters both sides get */
    double *yref;      /* the reference's output */
    double ref_ms;     /* the reference forward's wall time */
};

void nbb_accuracy_free(nbb_accuracy *a)
{
    if (!a)
        return;
    free(a->x);
    free(a->params);
    free(a->yref);
    free(a);
}

nb_status nbb_accuracy_prepare(uint32_t length, nbb_accuracy **out)
{
    *out = NULL;
    nbb_accuracy *a = calloc(1, sizeof *a);
    if (!a)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    nb_status s = nm_config_preset("noble", &a->c);
    if (s) {
        free(a);
        return s;
    }
    a->c.length = length;
    a->batch = 1;
    if ((s = nm_config_check(&a->c))) {
        free(a);
        return s;
    }
    const nm_config *c = &a->c;
    const uint64_t P = nm_param_count(c), nx = (uint64_t)a->batch * c->in_channels * c->length,
                   ny = (uint64_t)a->batch * c->out_channels * c->length;
    double *pd = malloc(P * sizeof *pd), *xd = malloc(nx * sizeof *xd);
    a->params = malloc(P * sizeof *a->params);
    a->x = malloc(nx * sizeof *a->x);
    a->yref = malloc(ny * sizeof *a->yref);
    nm_ref *ref = NULL;
    if (!pd || !xd || !a->params || !a->x || !a->yref) {
        s = nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    nm_params_init(c, 1, a->params); /* the preset's initialisation, seed 1 (as bench operator) */
    for (uint64_t i = 0; i < P; i++)
        pd[i] = a->params[i];
    nm_rng r;
    nm_rng_seed(&r, 20261206);
    for (uint64_t i = 0; i < nx; i++) { /* a current step and noisy channels, as bench operator's input */
        a->x[i] = (float)(((i % c->length) > c->length / 8 ? 1.0 : 0.0) + 0.1 * nm_rng_normal(&r));
        xd[i] = a->x[i];
    }
    if ((s = nm_ref_create(c, a->batch, &ref)))
        goto done;
    nm_ref_set_params(ref, pd);
    double t0 = nbb_now_ms();
    nm_ref_forward(ref, xd, a->batch, a->yref);
    a->ref_ms = nbb_now_ms() - t0;
done:
    nm_ref_destroy(ref);
    free(pd);
    free(xd);
    if (s)
        nbb_accuracy_free(a);
    else
        *out = a;
    return s;
}

nb_status nbb_accuracy_measure(const nbb_accuracy *a, const nb_context_options *o, nbb_report *r)
{
    const nm_config *c = &a->c;
    const uint64_t ny = (uint64_t)a->batch * c->out_channels * c->length;
    nb_context *ctx = NULL;
    nm_model *m = NULL;
    float *y = malloc(ny * sizeof *y);
    if (!y)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    nb_status s = nb_context_create(o, &ctx);
    if (!s)
        s = nm_model_create(ctx, c, a->batch, 0, &m);
    if (!s)
        s = nm_model_set_params(m, a->params);
    if (!s)
        s = nm_model_forward(m, a->x, a->batch, y);
    nm_model_destroy(m);
    if (!s)
        s = nb_context_check(ctx);
    nb_context_destroy(ctx);
    if (s) {
        free(y);
        return s;
    }
    double max_err = 0, max_ref = 0, sum_e2 = 0, sum_r2 = 0;
    uint64_t where = 0;
    int finite = 1;
    for (uint64_t i = 0; i < ny; i++) {
        const double e = fabs((double)y[i] - a->yref[i]);
        if (!isfinite(y[i]))
            finite = 0;
        if (e > max_err || !isfinite(e)) {
            max_err = isfinite(e) ? e : INFINITY;
            where = i;
        }
        max_ref = fmax(max_ref, fabs(a->yref[i]));
        sum_e2 += e * e;
        sum_r2 += a->yref[i] * a->yref[i];
    }
    free(y);
    const uint64_t per_trace = (uint64_t)c->out_channels * c->length;
    nbb_report *acc = nbb_report_object(r, "accuracy");
    if (!acc)
        return nb_error(NB_ERR_OUT_OF_MEMORY, "out of host memory");
    nbb_report_str(acc, "what",
                   "the NOBLE preset's forward on this backend (fp32) against the double-precision reference "
                   "(models/reference.c), same input and parameters");
    nbb_report_num(acc, "length", c->length, "samples", "per trace");
    nbb_report_num(acc, "batch", a->batch, "traces", NULL);
    nbb_report_str(acc, "input", "a current step at N/8 plus N(0, 0.1) noise on every channel (seed 20261206); "
                   "parameters nm_params_init seed 1");
    nbb_report_num(acc, "max_abs_error", finite ? max_err : NAN, "",
                   "largest |output - reference|, in the operator's output units");
    nbb_report_num(acc, "reference_max_abs", max_ref, "", "largest |reference|");
    nbb_report_num(acc, "max_rel_error", finite && max_ref > 0 ? max_err / max_ref : NAN, "",
                   "max_abs_error / reference_max_abs");
    nbb_report_num(acc, "rel_l2_error", finite && sum_r2 > 0 ? sqrt(sum_e2 / sum_r2) : NAN, "",
                   "||output - reference||_2 / ||reference||_2");
    nbb_report *w = nbb_report_object(acc, "where");
    if (w) {
        nbb_report_num(w, "trace", (double)(where / per_trace), "", NULL);
        nbb_report_num(w, "channel", (double)(where % per_trace / c->length), "", NULL);
        nbb_report_num(w, "sample", (double)(where % c->length), "", NULL);
    }
    nbb_report_num(acc, "reference_ms", a->ref_ms, "ms", "wall time of the double-precision forward");
    nbb_report_num(acc, "finite", finite, "", "1: every output finite");
    return NB_OK;
}
