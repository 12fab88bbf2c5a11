/* Checkpoints: a full round trip bit for bit (parameters, moments, step,
 * epoch, RNG state, scaler, units); a model restored from one computes the
 * same output; loading names what is wrong (another configuration, a
 * missing or misshapen parameter, not HDF5, not a checkpoint); a failed
 * save leaves no file and no temporary behind. */
#include "nb_test.h"
#include "nm_models.h"

#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

/* Edits a saved file with HDF5 directly, to make it wrong. */
static void vandalise(const char *path, const char *what)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (strcmp(what, "delete") == 0) {
        H5Ldelete(f, "/params/fno_blocks.convs.1.weight.tensor", H5P_DEFAULT);
    } else if (strcmp(what, "reshape") == 0) {
        H5Ldelete(f, "/params/projection.fcs.0.bias", H5P_DEFAULT);
        hsize_t d[1] = {7};
        hid_t sp = H5Screate_simple(1, d, NULL);
        hid_t ds = H5Dcreate2(f, "/params/projection.fcs.0.bias", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT);
        float z[7] = {0};
        H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, z);
        H5Dclose(ds);
        H5Sclose(sp);
    }
    H5Fclose(f);
}

int main(void)
{
    char dir[] = "/tmp/noble-ckpt-test-XXXXXX";
    REQUIRE_OK(mkdtemp(dir) ? NB_OK : NB_ERR_IO);
    char path[256], path2[256];
    snprintf(path, sizeof path, "%s/model.h5", dir);

    nm_config c;
    REQUIRE_OK(nm_config_preset("small", &c));
    const uint64_t P = nm_param_count(&c);
    nm_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.config = c;
    ck.params = malloc(P * 4);
    ck.exp_avg = malloc(P * 4);
    ck.exp_avg_sq = malloc(P * 4);
    nm_params_init(&c, 5, ck.params);
    for (uint64_t i = 0; i < P; i++) {
        ck.exp_avg[i] = (float)i * 1e-3f;
        ck.exp_avg_sq[i] = (float)(i % 97) * 1e-5f;
    }
    nm_adamw_default(&ck.opt);
    ck.step = 1234;
    ck.epoch = 17;
    ck.best_metric = 0.0625;
    nm_rng_seed(&ck.rng, 99);
    nm_rng_next(&ck.rng);
    ck.has_embedding = 1;
    nm_embedding_default(&ck.embedding);
    ck.embedding.amp_freqs = ck.embedding.feat_freqs = 0; /* the small preset takes 1 channel: the current */
    const double lo[3] = {-110, 22, 0.7}, hi[3] = {270, 96, 1.0};
    for (int i = 0; i < 3; i++) {
        ck.embedding.min[i] = lo[i];
        ck.embedding.max[i] = hi[i];
    }
    ck.state = strdup("epoch = 17, lr = 0.0016");
    CHECK_OK(nm_checkpoint_save(path, &ck));
    CHECK(nbt_count_files(dir) == 1, "one file, no temporary left: %d", nbt_count_files(dir));

    nm_checkpoint back;
    CHECK_OK(nm_checkpoint_load(path, &c, &back));
    CHECK(back.params && memcmp(back.params, ck.params, P * 4) == 0, "parameters bit for bit");
    CHECK(back.exp_avg && memcmp(back.exp_avg, ck.exp_avg, P * 4) == 0, "first moments");
    CHECK(back.exp_avg_sq && memcmp(back.exp_avg_sq, ck.exp_avg_sq, P * 4) == 0, "second moments");
    CHECK(back.step == 1234 && back.epoch == 17 && back.best_metric == 0.0625, "progress");
    CHECK(memcmp(back.rng.s, ck.rng.s, sizeof ck.rng.s) == 0, "RNG state");
    CHECK(back.has_embedding && memcmp(&back.embedding, &ck.embedding, sizeof ck.embedding) == 0,
          "embedding and its scaler");
    CHECK(back.state && strcmp(back.state, ck.state) == 0, "the script's state");
    CHECK(memcmp(&back.config, &c, sizeof c) == 0, "configuration");
    CHECK(back.opt.lr == 4e-3 && back.opt.eps == 1e-6, "optimiser settings");

    /* A model restored from the checkpoint computes what the saved one did. */
    nb_context *ctx = nbt_context();
    nm_model *m1, *m2;
    REQUIRE_OK(nm_model_create(ctx, &c, 2, 0, &m1));
    REQUIRE_OK(nm_model_create(ctx, &c, 2, 0, &m2));
    REQUIRE_OK(nm_model_set_params(m1, ck.params));
    REQUIRE_OK(nm_model_set_params(m2, back.params));
    uint64_t nx = 2ull * c.in_channels * c.length, ny = 2ull * c.out_channels * c.length;
    float *x = malloc(nx * 4), *y1 = malloc(ny * 4), *y2 = malloc(ny * 4);
    uint64_t s = 4;
    for (uint64_t i = 0; i < nx; i++)
        x[i] = (float)nbt_rand(&s);
    CHECK_OK(nm_model_forward(m1, x, 2, y1));
    CHECK_OK(nm_model_forward(m2, x, 2, y2));
    CHECK(memcmp(y1, y2, ny * 4) == 0, "restored model, same output");
    nm_model_destroy(m1);
    nm_model_destroy(m2);
    nm_checkpoint_free(&back);

    /* Another configuration is named. */
    nm_config other = c;
    other.width = 16;
    nb_status st = nm_checkpoint_load(path, &other, &back);
    CHECK(st == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "width = 8, expected 16"), "%s", nb_last_error());
    printf("other configuration: %s\n", nb_last_error());

    /* A missing parameter, a misshapen one. */
    snprintf(path2, sizeof path2, "%s/broken.h5", dir);
    CHECK_OK(nm_checkpoint_save(path2, &ck));
    vandalise(path2, "delete");
    st = nm_checkpoint_load(path2, NULL, &back);
    CHECK(st == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "missing dataset 'fno_blocks.convs.1.weight.tensor'"),
          "%s", nb_last_error());
    printf("missing parameter: %s\n", nb_last_error());
    CHECK_OK(nm_checkpoint_save(path2, &ck));
    vandalise(path2, "reshape");
    st = nm_checkpoint_load(path2, NULL, &back);
    CHECK(st == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "has shape (7), expected (16)"), "%s",
          nb_last_error());
    printf("misshapen parameter: %s\n", nb_last_error());

    /* Not HDF5; HDF5 but not a checkpoint; not there. */
    FILE *f = fopen(path2, "wb");
    fputs("this is not HDF5\n", f);
    fclose(f);
    CHECK(nm_checkpoint_load(path2, NULL, &back) == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "not an HDF5"),
          "%s", nb_last_error());
    unlink(path2);
    float one = 1.0f;
    uint64_t d1 = 1;
    CHECK_OK(nm_array_save(path2, "x", &one, 1, &d1, "pA"));
    CHECK(nm_checkpoint_load(path2, NULL, &back) == NB_ERR_INVALID_ARGUMENT &&
              strstr(nb_last_error(), "not a noble checkpoint"),
          "%s", nb_last_error());
    CHECK(nm_checkpoint_load("/nonexistent/model.h5", NULL, &back) == NB_ERR_IO, "missing file");

    /* Failed saves leave nothing behind. */
    int before = nbt_count_files(dir);
    CHECK(nm_checkpoint_save("/nonexistent-dir/model.h5", &ck) == NB_ERR_IO, "unwritable path: %s", nb_last_error());
    char path3[300];
    snprintf(path3, sizeof path3, "%s/nan.h5", dir);
    ck.params[3] = NAN;
    CHECK(nm_checkpoint_save(path3, &ck) == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "not finite"), "%s",
          nb_last_error());
    CHECK(access(path3, F_OK) != 0 && nbt_count_files(dir) == before, "no partial file after a failed save");
    /* The old checkpoint survives a failed overwrite. */
    CHECK(nm_checkpoint_save(path, &ck) != NB_OK, "NaN overwrite refused");
    CHECK_OK(nm_checkpoint_load(path, &c, &back));
    CHECK(back.params && isfinite(back.params[3]), "the earlier checkpoint is intact");
    nm_checkpoint_free(&back);

    /* Arrays: round trip and errors. */
    uint64_t dims[3] = {2, 3, 4};
    float arr[24];
    for (int i = 0; i < 24; i++)
        arr[i] = (float)i * 0.5f;
    CHECK_OK(nm_array_save(path2, "y", arr, 3, dims, "mV"));
    float *got = NULL;
    uint32_t rank = 0;
    uint64_t gd[4];
    CHECK_OK(nm_array_load(path2, "y", &got, &rank, gd));
    CHECK(got && rank == 3 && gd[0] == 2 && gd[2] == 4 && memcmp(got, arr, sizeof arr) == 0, "array round trip");
    free(got);
    CHECK_OK(nm_array_load(path2, "x", &got, &rank, gd)); /* the earlier dataset is still there */
    free(got);
    CHECK(nm_array_load(path2, "nope", &got, &rank, gd) == NB_ERR_INVALID_ARGUMENT, "missing dataset");
    arr[5] = NAN;
    CHECK_OK(nm_array_save(path2, "bad", arr, 3, dims, NULL));
    CHECK(nm_array_load(path2, "bad", &got, &rank, gd) == NB_ERR_INVALID_ARGUMENT && strstr(nb_last_error(), "finite"),
          "NaN input: %s", nb_last_error());

    free(x);
    free(y1);
    free(y2);
    nm_checkpoint_free(&ck);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return nbt_finish(ctx);
}
