/* test_features.c - electrophysiology features on hand-made traces whose
 * answers are known in closed form (models/features.c, docs/dataset.md). */
#include "nb_test.h"
#include "nm_features.h"

#define DT 0.01
#define N 70001 /* 0..700 ms */
#define T0 100.0
#define T1 500.0

static double g_v[N];

static void near(const char *what, double got, double want, double tol)
{
    CHECK(fabs(got - want) <= tol, "%s = %.6g, expected %.6g (+- %g)", what, got, want, tol);
}

static void feats(double *f)
{
    REQUIRE_OK(nm_features(g_v, N, DT, T0, T1, NULL, f));
}

/* Hyperpolarising step with sag: -70 mV, ramp to -80 mV over 10 ms, recover to
 * -77 mV by 200 ms, hold; after the step an exponential return (tau 8 ms). */
static void sag_trace(void)
{
    for (size_t i = 0; i < N; i++) {
        double t = (double)i * DT, v;
        if (t <= 100)
            v = -70;
        else if (t <= 110)
            v = -70 - (t - 100);
        else if (t <= 200)
            v = -80 + 3 * (t - 110) / 90;
        else if (t <= 500)
            v = -77;
        else
            v = -70 - 7 * exp(-(t - 500) / 8);
        g_v[i] = v;
    }
}

/* Spikes: Gaussian APs (peak +30 mV from a -65 mV plateau, sigma 0.2 ms) with a
 * Gaussian AHP (10 mV deep, sigma 1 ms) 4 ms after each peak. */
static void spike_trace(const double *peaks, int np, double plateau_from, double plateau_v)
{
    for (size_t i = 0; i < N; i++) {
        double t = (double)i * DT;
        double v = t <= T0 || t > T1 ? -70 : -65;
        if (t >= plateau_from && t <= T1)
            v = plateau_v;
        for (int k = 0; k < np; k++) {
            double x = t - peaks[k], y = t - peaks[k] - 4;
            v += 95 * exp(-x * x / (2 * 0.2 * 0.2)) - 10 * exp(-y * y / 2.0);
        }
        g_v[i] = v;
    }
}

int main(void)
{
    double f[NM_FEAT_COUNT];

    /* Names and units are eFEL's. */
    CHECK(strcmp(nm_feature_name(NM_FEAT_SAG_AMPLITUDE), "sag_amplitude") == 0, "name");
    CHECK(strcmp(nm_feature_unit(NM_FEAT_INV_FIRST_ISI), "Hz") == 0, "unit");
    CHECK(nm_feature_name(NM_FEAT_COUNT)[0] == 0, "out of range name");

    /* No spike, sag. */
    sag_trace();
    feats(f);
    near("Spikecount (sag)", f[NM_FEAT_SPIKECOUNT], 0, 0);
    CHECK(isnan(f[NM_FEAT_TIME_TO_FIRST_SPIKE]), "time_to_first_spike without spikes is NaN");
    CHECK(isnan(f[NM_FEAT_AP1_WIDTH]) && isnan(f[NM_FEAT_MEAN_FREQUENCY]), "no AP features");
    near("inv_first_ISI (no spike)", f[NM_FEAT_INV_FIRST_ISI], 0, 0);
    near("voltage_base", f[NM_FEAT_VOLTAGE_BASE], -70, 1e-9);
    near("steady_state_voltage_stimend", f[NM_FEAT_STEADY_STATE_VOLTAGE_STIMEND], -77, 1e-9);
    near("sag_amplitude", f[NM_FEAT_SAG_AMPLITUDE], 3, 1e-9);
    near("decay_time_constant_after_stim", f[NM_FEAT_DECAY_TIME_CONSTANT_AFTER_STIM], 8, 1e-6);
    /* mean of -70 - 7 exp(-(t-500)/8) over (500, 700]: -70 - 7*8/200 (1 - e^-25) */
    near("steady_state_voltage", f[NM_FEAT_STEADY_STATE_VOLTAGE], -70 - 56.0 / 200, 0.01);
    near("depol_block (sag)", f[NM_FEAT_DEPOL_BLOCK], 1, 0);

    /* Three spikes 20 ms apart. */
    const double three[3] = {120, 140, 160};
    spike_trace(three, 3, 1e9, 0);
    feats(f);
    near("Spikecount", f[NM_FEAT_SPIKECOUNT], 3, 0);
    near("time_to_first_spike", f[NM_FEAT_TIME_TO_FIRST_SPIKE], 20, 1e-9);
    near("AP1_peak", f[NM_FEAT_AP1_PEAK], 30 - 10 * exp(-8.0), 1e-6); /* AHP tail at the peak */
    /* width at half height between the peak (+30) and the minimum since
     * stim_start (-70 mV, the sample at 100 ms): at -20 mV the Gaussian of
     * sigma 0.2 ms on the -65 mV plateau is 2 sigma sqrt(2 ln(95/45)) wide */
    near("AP1_width", f[NM_FEAT_AP1_WIDTH], 2 * 0.2 * sqrt(2 * log(95.0 / 45.0)), 2e-3);
    near("inv_first_ISI", f[NM_FEAT_INV_FIRST_ISI], 50, 1e-9);
    near("mean_frequency", f[NM_FEAT_MEAN_FREQUENCY], 1000.0 * 3 / 60, 1e-9);
    near("AHP_depth", f[NM_FEAT_AHP_DEPTH], -75 - (-70), 1e-6);
    near("AHP1_depth_from_peak", f[NM_FEAT_AHP1_DEPTH_FROM_PEAK], 105 - 10 * exp(-8.0), 1e-6);
    near("AHP_time_from_peak", f[NM_FEAT_AHP_TIME_FROM_PEAK], 4, 1e-9);
    /* AP begin where dV/dt first exceeds 12 mV/ms, 0.62 ms before the peak,
     * at about -64.2 mV: amplitude about 94.2 mV */
    near("mean_AP_amplitude", f[NM_FEAT_MEAN_AP_AMPLITUDE], 94.2, 0.3);
    near("depol_block (spiking)", f[NM_FEAT_DEPOL_BLOCK], 1, 0);
    CHECK(isnan(f[NM_FEAT_SAG_AMPLITUDE]), "no sag on a depolarising step");
    double times[8];
    size_t count = 0;
    CHECK_OK(nm_spike_times(g_v, N, DT, -20, times, 8, &count));
    CHECK(count == 3 && fabs(times[1] - 140) < 1e-9, "spike times: %zu, %g", count, times[1]);
    CHECK_OK(nm_spike_count_in(g_v, N, DT, -20, 130, 500, &count));
    CHECK(count == 2, "spikes in [130, 500]: %zu", count);

    /* One spike. */
    spike_trace(three, 1, 1e9, 0);
    feats(f);
    near("Spikecount (one)", f[NM_FEAT_SPIKECOUNT], 1, 0);
    near("inv_first_ISI (one)", f[NM_FEAT_INV_FIRST_ISI], 0, 0);
    near("mean_frequency (one)", f[NM_FEAT_MEAN_FREQUENCY], 50, 1e-9);
    near("AHP_time_from_peak (one)", f[NM_FEAT_AHP_TIME_FROM_PEAK], 4, 1e-9);

    /* Depolarisation block: three spikes, then the membrane stays at -40 mV. */
    const double early[3] = {110, 120, 130};
    spike_trace(early, 3, 140, -40);
    feats(f);
    near("Spikecount (block)", f[NM_FEAT_SPIKECOUNT], 3, 0);
    near("depol_block (block)", f[NM_FEAT_DEPOL_BLOCK], 0, 0);
    near("steady_state_voltage_stimend (block)", f[NM_FEAT_STEADY_STATE_VOLTAGE_STIMEND], -40, 1e-9);

    /* f-I slope. */
    double amp[6] = {90, 100, 110, 120, 130, 200}, rate[6];
    for (int i = 0; i < 6; i++)
        rate[i] = 20 + 0.5 * (amp[i] - 100);
    rate[5] = 1000; /* outside the span: ignored */
    double slope = 0;
    CHECK_OK(nm_fi_slope(amp, rate, 6, 100, 30, &slope));
    near("s_thr", slope, 0.5, 1e-12);
    CHECK(nm_fi_slope(amp, rate, 6, 195, 1, &slope) == NB_ERR_INVALID_ARGUMENT, "one point");
    CHECK(strstr(nb_last_error(), "2 distinct") != NULL, "message: %s", nb_last_error());

    /* Bad input gives a message, not a crash. */
    CHECK(nm_features(NULL, N, DT, T0, T1, NULL, f) == NB_ERR_INVALID_ARGUMENT, "NULL trace");
    CHECK(nm_features(g_v, N, DT, T0, 800, NULL, f) == NB_ERR_INVALID_ARGUMENT, "step past the end");
    CHECK(strstr(nb_last_error(), "inside the trace") != NULL, "message: %s", nb_last_error());
    CHECK(nm_features(g_v, N, 0, T0, T1, NULL, f) == NB_ERR_INVALID_ARGUMENT, "dt 0");
    g_v[5] = NAN;
    CHECK(nm_features(g_v, N, DT, T0, T1, NULL, f) == NB_ERR_INVALID_ARGUMENT, "NaN sample");
    CHECK(strstr(nb_last_error(), "sample 5") != NULL, "message: %s", nb_last_error());

    if (nbt_failures)
        fprintf(stderr, "%d check(s) failed\n", nbt_failures);
    else
        printf("all checks passed\n");
    return nbt_failures ? 1 : 0;
}
