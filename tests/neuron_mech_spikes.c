/*
 * neuron_mech_spikes.c - the spike times the embedding ABI predicts, for
 * test_neuron_mech.sh to compare with the events of NobleCells in NEURON.
 * Built against the installed library (pkg-config noble).
 *   neuron_mech_spikes CKPT START:AMP:HOF:I_THR:S_THR...
 * prints, for each cell, one line: START + each spike time (%.17g), the
 * same double the mechanism schedules.
 */
#include <noble_embed.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    noble_model *m;
    noble_info in;
    noble_cell cells[16];
    double start[16], spikes[16][512];
    uint32_t counts[16], n = 0, ns, i, j;
    float *v;
    if (argc < 3 || argc - 2 > 16) {
        fprintf(stderr, "usage: neuron_mech_spikes CKPT START:AMP:HOF:I_THR:S_THR... (up to 16)\n");
        return 2;
    }
    for (i = 2; i < (uint32_t) argc; ++i, ++n) {
        int hof;
        if (sscanf(argv[i], "%lf:%lf:%d:%lf:%lf", &start[n], &cells[n].amplitude_pA, &hof, &cells[n].I_thr_pA,
                   &cells[n].s_thr) != 5) {
            fprintf(stderr, "neuron_mech_spikes: bad cell '%s'\n", argv[i]);
            return 2;
        }
        cells[n].hof_model = hof;
    }
    if (noble_open(argv[1], getenv("NOBLE_BACKEND") ? getenv("NOBLE_BACKEND") : "auto", -1, 0, &m) != NOBLE_OK ||
        noble_get_info(m, &in) != NOBLE_OK) {
        fprintf(stderr, "neuron_mech_spikes: %s\n", noble_last_error());
        return 1;
    }
    ns = noble_output_samples(m, in.dt_ms);
    v = malloc((size_t) n * ns * sizeof *v);
    if (!v || noble_predict(m, cells, n, in.step_start_ms, in.step_duration_ms, in.dt_ms, v, &spikes[0][0], 512,
                            counts) != NOBLE_OK) {
        fprintf(stderr, "neuron_mech_spikes: %s\n", v ? noble_last_error() : "out of memory");
        return 1;
    }
    for (i = 0; i < n; ++i) {
        printf("%u", counts[i]);
        for (j = 0; j < counts[i] && j < 512; ++j)
            printf(" %.17g", start[i] + spikes[i][j]);
        printf("\n");
    }
    free(v);
    noble_close(m);
    return 0;
}
