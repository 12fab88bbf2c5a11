/* noble.c - the `noble` command-line program. Library errors become clear
 * messages on stderr and a non-zero exit status here, never in the library. */
#include "commands.h"
#include "nbl_internal.h"
#include "nb_bench.h"
#include "nb_runtime.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_USAGE 2

#if defined(__SANITIZE_ADDRESS__)
#include <dlfcn.h>
/* Sanitizer builds only: Mesa's lavapipe leaks a small allocation when the
 * Vulkan loader unloads it, and once unloaded LeakSanitizer cannot name it,
 * so no suppression matches. Keeping the driver mapped leaves that memory
 * reachable; every leak of ours is still reported. */
__attribute__((constructor)) static void pin_driver(void)
{
    dlopen("libvulkan_lvp.so", RTLD_NOW | RTLD_NODELETE);
}
#endif

static int fail(const char *what, nb_status s)
{
    fprintf(stderr, "noble: %s: %s\n", what, nb_last_error()[0] ? nb_last_error() : nb_status_name(s));
    return 1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int has_flag(int argc, char **argv, const char *flag)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return 1;
    return 0;
}

/* Every argument must be one of the known flags. */
static int check_flags(int argc, char **argv, const char *const *known, const char *cmd)
{
    for (int i = 0; i < argc; i++) {
        int ok = 0;
        for (int k = 0; known[k]; k++)
            ok |= strcmp(argv[i], known[k]) == 0;
        if (!ok) {
            fprintf(stderr, "noble %s: unknown argument '%s' (see noble help)\n", cmd, argv[i]);
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- devices */

/* NOBLE_GPU_CONFIG as a context would read it: 1 on, 0 off, -1 not 0 or 1. */
static int gpu_config_env(void)
{
    const char *v = getenv("NOBLE_GPU_CONFIG");
    return !v || !*v || strcmp(v, "0") == 0 ? 0 : strcmp(v, "1") == 0 ? 1 : -1;
}

static void print_device_text(const nb_device_info *d, int chosen, int gpu_config)
{
    char ops[256];
    nb_subgroup_ops_string(d->subgroup_ops, ops, sizeof ops);
    printf("%s %u  %s\n", chosen ? "*" : " ", d->index, d->name);
    printf("     type %s, vendor %s (0x%04x), device 0x%04x, Vulkan %s%s\n", nb_device_type_name(d->type), d->vendor,
           d->vendor_id, d->device_id, d->api_version_str, d->usable ? "" : "  [not usable: needs Vulkan 1.1 compute]");
    printf("     driver %s %s (version %s)\n", d->driver_name[0] ? d->driver_name : "?", d->driver_info,
           d->driver_version_str);
    printf("     memory %.0f MiB device-local%s, largest allocation %.0f MiB, storage buffer range %.0f MiB\n",
           (double)d->device_local_bytes / 1048576.0, d->unified_memory ? " (unified with the host)" : "",
           (double)d->max_allocation_bytes / 1048576.0, (double)d->max_storage_buffer_range / 1048576.0);
    printf("     workgroups: %u invocations, size %u x %u x %u, count %u x %u x %u, shared %u KiB, push %u B\n",
           d->max_workgroup_invocations, d->max_workgroup_size[0], d->max_workgroup_size[1], d->max_workgroup_size[2],
           d->max_workgroup_count[0], d->max_workgroup_count[1], d->max_workgroup_count[2],
           d->max_shared_memory_bytes / 1024, d->max_push_constants_size);
    if (d->subgroup_min_size)
        printf("     subgroups: size %u (%u to %u), operations %s\n", d->subgroup_size, d->subgroup_min_size,
               d->subgroup_max_size, ops[0] ? ops : "none");
    else
        printf("     subgroups: size %u, operations %s\n", d->subgroup_size, ops[0] ? ops : "none");
    printf("     features: 16-bit storage %s, fp16 arithmetic %s, fp64 %s, timestamps %s", d->storage_16bit ? "yes" : "no",
           d->float16_arithmetic ? "yes" : "no", d->float64 ? "yes" : "no", d->timestamps ? "yes" : "no");
    if (d->timestamps)
        printf(" (%.3g ns)", d->timestamp_period_ns);
    printf(", cooperative matrix %s\n", d->cooperative_matrix ? "yes" : "no");
    if (d->max_loop_iterations)
        printf("     loops: stopped silently after %u iterations per invocation (kernels are planned under it)\n",
               d->max_loop_iterations);
    printf("     FFT: %s unless NOBLE_FFT says otherwise\n",
           d->type == NB_DEVICE_CPU && d->unified_memory && !gpu_config
               ? "FFTW on the host, over the device's host-visible memory,"
               : "VkFFT on the device,");
    if (gpu_config)
        printf("     GPU configuration (NOBLE_GPU_CONFIG=1): run as on a discrete GPU: device buffers not mapped, "
               "transfers staged in chunks (NOBLE_STAGING_BYTES, default 64 MiB), VkFFT, storage loads, the GPU's "
               "tiles and workgroups\n");
}

/* The backend a context made now would be: NOBLE_BACKEND, else Vulkan where a
 * device can be chosen, else the CPU backend. */
static nb_backend backend_in_use(int vulkan_ok, const char **why)
{
    /* vulkan_ok: a device can be chosen and it is not a CPU device */
    const char *b = getenv("NOBLE_BACKEND");
    *why = "NOBLE_BACKEND";
    if (b && strcmp(b, "cpu") == 0)
        return NB_BACKEND_CPU;
    if (b && strcmp(b, "vulkan") == 0)
        return NB_BACKEND_VULKAN;
    const char *dev = getenv("NOBLE_DEVICE");
    if (dev && *dev) { /* a device asked for by name is Vulkan's, found or not */
        *why = "NOBLE_DEVICE";
        return NB_BACKEND_VULKAN;
    }
    *why = vulkan_ok ? "default: a Vulkan GPU where there is one" : "default: no Vulkan GPU, so the cores themselves";
    return vulkan_ok ? NB_BACKEND_VULKAN : NB_BACKEND_CPU;
}

static int cmd_devices(int argc, char **argv)
{
    static const char *const known[] = {"--json", NULL};
    if (!check_flags(argc, argv, known, "devices"))
        return EXIT_USAGE;
    int json = has_flag(argc, argv, "--json");
    nb_device_info d[16], cpu;
    uint32_t n = 0, total = 0;
    char vkwhy[1024] = "";
    nb_status ls = nb_devices_list(d, 16, &n, &total);
    if (ls)
        snprintf(vkwhy, sizeof vkwhy, "%s", nb_last_error());
    uint32_t chosen = 0;
    nb_status cs = ls ? ls : nb_device_choose(&chosen);
    char why[1024];
    snprintf(why, sizeof why, "%s", cs ? nb_last_error() : "");
    nb_status ps = nb_cpu_device_info(0, &cpu);
    if (ps)
        return fail("cannot describe the CPU backend", ps);
    const char *bwhy;
    int gpu = gpu_config_env();
    if (gpu < 0) {
        fprintf(stderr, "noble devices: NOBLE_GPU_CONFIG='%s': expected 0 or 1\n", getenv("NOBLE_GPU_CONFIG"));
        return EXIT_USAGE;
    }
    /* the GPU configuration takes Vulkan as on a GPU */
    nb_backend use = backend_in_use(!cs && (d[chosen].type != NB_DEVICE_CPU || gpu), &bwhy);
    if (gpu && !cs && d[chosen].type == NB_DEVICE_CPU && use == NB_BACKEND_VULKAN && strcmp(bwhy, "NOBLE_BACKEND"))
        bwhy = "NOBLE_GPU_CONFIG=1: Vulkan, as on a GPU";
    gpu = gpu && use == NB_BACKEND_VULKAN; /* the CPU backend has no GPU configuration */
    const char *env = getenv("NOBLE_DEVICE"), *benv = getenv("NOBLE_BACKEND");
    if (benv && *benv && strcmp(benv, "auto") && strcmp(benv, "cpu") && strcmp(benv, "vulkan")) {
        fprintf(stderr, "noble devices: NOBLE_BACKEND='%s': expected auto, vulkan or cpu\n", benv);
        return EXIT_USAGE;
    }
    if (json) {
        nbb_json j;
        nbb_json_init(&j, stdout);
        nbb_json_object(&j, NULL);
        nbb_json_str(&j, "backend", nb_backend_name(use));
        nbb_json_bool(&j, "gpu_config", gpu);
        if (cs)
            nbb_json_str(&j, "error", why);
        else
            nbb_json_int(&j, "chosen", chosen);
        nbb_json_str(&j, "noble_device", env ? env : "");
        nbb_json_array(&j, "devices");
        for (uint32_t i = 0; i < n; i++) {
            nbb_json_object(&j, NULL);
            nbb_json_device(&j, &d[i]);
            nbb_json_bool(&j, "chosen", use == NB_BACKEND_VULKAN && !cs && i == chosen);
            nbb_json_end(&j, '}');
        }
        nbb_json_end(&j, ']');
        nbb_json_object(&j, "cpu_backend");
        nbb_json_device(&j, &cpu);
        nbb_json_bool(&j, "chosen", use == NB_BACKEND_CPU);
        nbb_json_end(&j, '}');
        nbb_json_end(&j, '}');
    } else {
        if (ls)
            printf("no Vulkan: %s\n", vkwhy);
        else
            printf("%u Vulkan device(s) (%s)\n", total,
                   env && *env ? "NOBLE_DEVICE chooses" : "default order: discrete, integrated, virtual GPU, CPU");
        for (uint32_t i = 0; i < n; i++)
            print_device_text(&d[i], use == NB_BACKEND_VULKAN && !cs && i == chosen,
                              gpu && !cs && i == chosen);
        printf("the native CPU backend (NOBLE_BACKEND=cpu; NOBLE_THREADS sets the threads)\n");
        printf("%s cpu  %s\n", use == NB_BACKEND_CPU ? "*" : " ", cpu.name);
        printf("     %s; memory %.0f MiB\n", cpu.driver_info, (double)cpu.device_local_bytes / 1048576.0);
        printf("* marks what noble uses (backend %s: %s)\n", nb_backend_name(use), bwhy);
    }
    if (use == NB_BACKEND_VULKAN && cs) {
        fprintf(stderr, "noble: no device chosen: %s\n", why);
        return 1;
    }
    return 0;
}

/* -------------------------------------------------------------- selfcheck */

/* Runs a kernel, a reduction and an FFT on the default device and compares
 * them with the CPU in double precision. */
static int cmd_selfcheck(int argc, char **argv)
{
    static const char *const known[] = {NULL};
    if (!check_flags(argc, argv, known, "selfcheck"))
        return EXIT_USAGE;
    double t0 = now_ms();
    nb_context *ctx;
    nb_status s = nb_context_create(NULL, &ctx);
    if (s)
        return fail("cannot open a device", s);
    const nb_device_info *di = nb_context_device(ctx);
    printf("selfcheck on %s (%s, %s)%s%s\n", di->name, nb_device_type_name(di->type),
           di->driver_info[0] ? di->driver_info : di->driver_version_str,
           nb_context_validation_enabled(ctx) ? ", validation on" : "",
           nb_context_gpu_config(ctx) ? ", GPU configuration" : "");
    int bad = 0;
    const uint32_t n = 1u << 16;
    const uint64_t fn = 8580, fb = 24, fc = fn / 2 + 1;
    float *x = malloc(n * 4), *y = malloc(n * 4), *fx = malloc(fn * fb * 4), *fX = malloc(fc * fb * 8);
    nb_buffer *bx = NULL, *by = NULL, *bp = NULL, *rx = NULL, *rX = NULL;
    nb_kernel *ks = NULL, *kr = NULL;
    nb_cmd *c = NULL;
    if (!x || !y || !fx || !fX) {
        fprintf(stderr, "noble: out of host memory\n");
        bad = 1;
        goto done;
    }
    for (uint32_t i = 0; i < n; i++) {
        x[i] = (float)sin(0.37 * i);
        y[i] = (float)cos(0.11 * i);
    }
    nb_kernel_desc sd = {.name = "saxpy", .n_bindings = 2, .access = {NB_READ, NB_READ_WRITE}, .push_bytes = 8,
                         .n_spec = 1, .spec_id = {0}, .spec_value = {256}};
    nb_kernel_desc rd = {.name = "reduce_sum", .n_bindings = 2, .access = {NB_READ, NB_WRITE}, .push_bytes = 8};
    if ((s = nb_kernel_create(ctx, &sd, &ks)) || (s = nb_kernel_create(ctx, &rd, &kr)) ||
        (s = nb_buffer_create(ctx, n * 4, NB_MEM_DEVICE, &bx)) || (s = nb_buffer_create(ctx, n * 4, NB_MEM_DEVICE, &by)) ||
        (s = nb_buffer_create(ctx, 4, NB_MEM_DEVICE, &bp)) || (s = nb_buffer_upload(bx, 0, x, n * 4)) ||
        (s = nb_buffer_upload(by, 0, y, n * 4))) {
        bad = fail("setup", s);
        goto done;
    }
    struct {
        uint32_t n;
        float a;
    } ps = {n, 3.0f};
    struct {
        uint32_t n, per;
    } pr = {n, n};
    nb_buffer *b1[2] = {bx, by}, *b2[2] = {by, bp};
    uint32_t g1[3] = {n / 256, 1, 1}, g2[3] = {1, 1, 1};
    if ((s = nb_cmd_begin(ctx, 0, &c)) || (s = nb_cmd_dispatch(c, ks, g1, b1, &ps, NULL)) ||
        (s = nb_cmd_dispatch(c, kr, g2, b2, &pr, NULL)) || (s = nb_cmd_submit(c))) {
        bad = fail("running kernels", s);
        goto done;
    }
    float got_sum = 0;
    if ((s = nb_buffer_download(by, 0, y, n * 4)) || (s = nb_buffer_download(bp, 0, &got_sum, 4))) {
        bad = fail("download", s);
        goto done;
    }
    double maxe = 0, ref_sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        double ref = 3.0 * (double)(float)sin(0.37 * i) + (double)(float)cos(0.11 * i);
        double e = fabs(y[i] - ref) / (fabs(3.0 * sin(0.37 * i)) + fabs(cos(0.11 * i)) + 1e-30);
        if (e > maxe)
            maxe = e;
        ref_sum += y[i];
    }
    double sum_err = fabs(got_sum - ref_sum) / (fabs(ref_sum) + 1.0);
    printf("  saxpy, %u elements:        max error %.2e (bound 1.2e-07)  %s\n", n, maxe, maxe <= 1.2e-7 ? "ok" : "FAILED");
    printf("  reduction, %u elements:    error %.2e (bound 1e-05)     %s\n", n, sum_err, sum_err <= 1e-5 ? "ok" : "FAILED");
    bad |= maxe > 1.2e-7 || sum_err > 1e-5;

    /* FFT at the project's window length against a double DFT of one row. */
    nb_fft *pf;
    for (uint64_t i = 0; i < fn * fb; i++)
        fx[i] = (float)(sin(0.01 * (double)i) + 0.5 * cos(0.3 * (double)(i % fn)));
    nb_cmd_destroy(c);
    c = NULL;
    if ((s = nb_fft_plan(ctx, fn, fb, NB_FFT_R2C, NB_FP32, &pf)) || (s = nb_buffer_create(ctx, fn * fb * 4, NB_MEM_DEVICE, &rx)) ||
        (s = nb_buffer_create(ctx, fc * fb * 8, NB_MEM_DEVICE, &rX)) || (s = nb_buffer_upload(rx, 0, fx, fn * fb * 4)) ||
        (s = nb_cmd_begin(ctx, 0, &c)) || (s = nb_cmd_fft(c, pf, rx, rX, NULL)) || (s = nb_cmd_submit(c)) ||
        (s = nb_buffer_download(rX, 0, fX, fc * fb * 8))) {
        bad = fail("FFT", s);
        goto done;
    }
    const uint64_t row = fb - 1;
    double num = 0, den = 0;
    for (uint64_t k = 0; k < fc; k++) {
        double re = 0, im = 0;
        for (uint64_t j = 0; j < fn; j++) {
            double a = -2.0 * 3.14159265358979323846 * (double)((k * j) % fn) / (double)fn;
            re += fx[row * fn + j] * cos(a);
            im += fx[row * fn + j] * sin(a);
        }
        double dr = fX[(row * fc + k) * 2] - re, dim = fX[(row * fc + k) * 2 + 1] - im;
        num += dr * dr + dim * dim;
        den += re * re + im * im;
    }
    double fe = sqrt(num / den);
    printf("  FFT R2C (%s), N %llu, batch %llu: relative L2 error %.2e (bound 2e-06)   %s\n",
           nb_fft_backend_name(nb_context_fft_backend(ctx)), (unsigned long long)fn, (unsigned long long)fb, fe,
           fe <= 2e-6 ? "ok" : "FAILED");
    bad |= fe > 2e-6;
    if ((s = nb_context_check(ctx))) {
        bad = fail("validation", s);
        goto done;
    }
    nb_kernel_stats ksx;
    nb_kernel_stats_get(ctx, &ksx);
    printf("  kernels: %u compiled, %u from the cache; %.0f ms in all\n", ksx.compiled, ksx.cache_hits, now_ms() - t0);
done:
    nb_cmd_destroy(c);
    nb_buffer_destroy(bx);
    nb_buffer_destroy(by);
    nb_buffer_destroy(bp);
    nb_buffer_destroy(rx);
    nb_buffer_destroy(rX);
    nb_kernel_destroy(ks);
    nb_kernel_destroy(kr);
    nb_context_destroy(ctx);
    free(x);
    free(y);
    free(fx);
    free(fX);
    printf("selfcheck %s\n", bad ? "FAILED" : "passed");
    return bad ? 1 : 0;
}

/* ------------------------------------------------------------------ bench */

/* A bench's options: flags, and options that take a value. */
typedef enum { OPT_FLAG, OPT_STR, OPT_U32, OPT_INT, OPT_BACKEND } opt_kind;
typedef struct bench_opt {
    const char *name;
    opt_kind kind;
    void *to;
    long long lo, hi; /* the allowed range of a number */
} bench_opt;

/* Parses argv against spec (ended by a NULL name); 0 or EXIT_USAGE after a message. */
static int parse_bench_args(const char *who, int argc, char **argv, const bench_opt *spec)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const bench_opt *o = spec;
        while (o->name && !(strcmp(a, o->name) == 0 && (o->kind == OPT_FLAG || i + 1 < argc)))
            o++;
        if (!o->name) {
            fprintf(stderr, "noble bench %s: unknown argument '%s' (see noble help)\n", who, a);
            return EXIT_USAGE;
        }
        if (o->kind == OPT_FLAG) {
            *(int *)o->to = 1;
            continue;
        }
        const char *v = argv[++i];
        if (o->kind == OPT_STR) {
            *(const char **)o->to = v;
            continue;
        }
        if (o->kind == OPT_BACKEND) {
            if (!nbb_backend_parse(v, (nbb_backend_sel *)o->to)) {
                fprintf(stderr, "noble bench %s: --backend %s: expected all, auto, vulkan or cpu\n", who, v);
                return EXIT_USAGE;
            }
            continue;
        }
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (end == v || *end || errno || n < o->lo || n > o->hi) {
            fprintf(stderr, "noble bench %s: %s %s: expected an integer from %lld to %lld\n", who, o->name, v, o->lo,
                    o->hi);
            return EXIT_USAGE;
        }
        if (o->kind == OPT_U32)
            *(uint32_t *)o->to = (uint32_t)n;
        else
            *(int *)o->to = (int)n;
    }
    return 0;
}

static int bench_operator(int argc, char **argv)
{
    nbb_operator_options o = {0};
    int json = 0;
    const bench_opt spec[] = {{"--json", OPT_FLAG, &json, 0, 0},
                              {"--quick", OPT_FLAG, &o.quick, 0, 0},
                              {"--no-torch", OPT_FLAG, &o.no_torch, 0, 0},
                              {"--batches", OPT_STR, &o.batches, 0, 0},
                              {"--length", OPT_U32, &o.length, 8, 1 << 20},
                              {"--rounds", OPT_INT, &o.rounds, 1, 1000000},
                              {"--backend", OPT_BACKEND, &o.backend, 0, 0},
                              {NULL, OPT_FLAG, NULL, 0, 0}};
    if (parse_bench_args("operator", argc, argv, spec))
        return EXIT_USAGE;
    nbb_report *r = nbb_report_new("operator");
    if (!r)
        return fail("bench", NB_ERR_OUT_OF_MEMORY);
    nb_status s = nbb_operator(&o, r);
    if (s) {
        nbb_report_free(r);
        return fail("bench operator", s);
    }
    nbb_report_print(r, stdout, json);
    nbb_report_free(r);
    return 0;
}

static int bench_population(int argc, char **argv)
{
    nbb_population_options o = {0};
    int json = 0;
    const bench_opt spec[] = {{"--json", OPT_FLAG, &json, 0, 0},
                              {"--quick", OPT_FLAG, &o.quick, 0, 0},
                              {"--checkpoint", OPT_STR, &o.checkpoint, 0, 0},
                              {"--dataset", OPT_STR, &o.dataset, 0, 0},
                              {"--batches", OPT_STR, &o.batches, 0, 0},
                              {"--rounds", OPT_INT, &o.rounds, 1, 1000000},
                              {"--backend", OPT_BACKEND, &o.backend, 0, 0},
                              {NULL, OPT_FLAG, NULL, 0, 0}};
    if (parse_bench_args("population", argc, argv, spec))
        return EXIT_USAGE;
    nbb_population_result *r = malloc(sizeof *r);
    if (!r)
        return fail("bench", NB_ERR_OUT_OF_MEMORY);
    nb_status s = nbb_population(&o, r);
    if (!s)
        nbb_population_print(r, stdout, json);
    nbb_population_clear(r);
    free(r);
    return s ? fail("bench population", s) : 0;
}

static int bench_runtime(int argc, char **argv)
{
    nbb_options o = {0};
    int json = 0;
    const bench_opt spec[] = {{"--json", OPT_FLAG, &json, 0, 0},
                              {"--quick", OPT_FLAG, &o.quick, 0, 0},
                              {"--rounds", OPT_INT, &o.rounds, 1, 64},
                              {"--backend", OPT_BACKEND, &o.backend, 0, 0},
                              {"--fftw-estimate", OPT_FLAG, &o.fftw_estimate, 0, 0},
                              {NULL, OPT_FLAG, NULL, 0, 0}};
    if (parse_bench_args("runtime", argc, argv, spec))
        return EXIT_USAGE;
    nbb_report *r = nbb_report_new("runtime");
    if (!r)
        return fail("bench", NB_ERR_OUT_OF_MEMORY);
    nb_status s = nbb_runtime(&o, r);
    if (s) {
        nbb_report_free(r);
        return fail("bench runtime", s);
    }
    nbb_report_print(r, stdout, json);
    nbb_report_free(r);
    return 0;
}

static int bench_compare(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "noble bench compare: unknown argument '%s' (usage: noble bench compare A.json B.json ...)\n",
                    argv[i]);
            return EXIT_USAGE;
        }
    if (argc < 1) {
        fprintf(stderr, "noble bench compare: which files? (usage: noble bench compare A.json B.json ...)\n");
        return EXIT_USAGE;
    }
    nbb_compare *c;
    nb_status s = nbb_compare_load((const char *const *)argv, argc, &c);
    if (s)
        return fail("bench compare", s);
    nbb_compare_print(c, stdout);
    nbb_compare_free(c);
    return 0;
}

static int cmd_bench(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "noble bench: which bench? (runtime, operator, population, or compare)\n");
        return EXIT_USAGE;
    }
    if (strcmp(argv[0], "compare") == 0)
        return bench_compare(argc - 1, argv + 1);
    if (strcmp(argv[0], "operator") == 0)
        return bench_operator(argc - 1, argv + 1);
    if (strcmp(argv[0], "population") == 0)
        return bench_population(argc - 1, argv + 1);
    if (strcmp(argv[0], "runtime") == 0)
        return bench_runtime(argc - 1, argv + 1);
    fprintf(stderr, "noble bench: unknown bench '%s' (known: runtime, operator, population; and compare)\n", argv[0]);
    return EXIT_USAGE;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "noble %d.%d.%d - NOBLE's neural operator on any GPU through Vulkan\n\n"
               "usage:\n"
               "  noble devices [--json]          list Vulkan devices; * marks the one in use\n"
               "  noble selfcheck                 run kernels and an FFT on the device, check them on the CPU\n"
               "  noble bench runtime [--json] [--quick] [--rounds R] [--backend all|auto|vulkan|cpu]\n"
               "                      [--fftw-estimate]\n"
               "                                  each backend's ceilings: bandwidth, FMA rate, dispatch\n"
               "                                  and submit cost, FFT throughput against FFTW (FFTW_MEASURE;\n"
               "                                  --fftw-estimate: FFTW_ESTIMATE, no minutes of planning)\n"
               "  noble bench operator [--json] [--quick] [--length N] [--batches 1,8,16,32,64] [--rounds R] [--no-torch]\n"
               "                       [--backend all|auto|vulkan|cpu]\n"
               "                                  the NOBLE preset on each backend (default all present): traces/s\n"
               "                                  forward and training, memory, per-op efficiency against that\n"
               "                                  backend's ceilings, ratios to PyTorch timed once in the same run\n"
               "  noble bench population [--json] [--quick] [--checkpoint FILE] [--dataset FILE] [--batches 1,8,32,128]\n"
               "                         [--rounds R] [--backend all|auto|vulkan|cpu]\n"
               "                                  synthetic neurons per second from a trained checkpoint (default\n"
               "                                  models/pretrained/pvalb-noble.h5), speedup over NEURON's time per\n"
               "                                  trace in the dataset (default data/pvalb60.h5; --dataset '' for none)\n"
               "  noble bench compare A.json B.json ...\n"
               "                                  bench --json files side by side: one column per backend measured,\n"
               "                                  ratios to the first; refuses another format_version or bench\n"
               "%s"
               "  noble version\n"
               "  noble help\n\n"
               "environment:\n"
               "  NOBLE_DEVICE     device index or name substring (default: discrete, integrated, virtual GPU, CPU)\n"
               "  NOBLE_VALIDATE=1 turn on the Khronos validation layer; its messages become errors\n"
               "  NOBLE_VALIDATE=sync the same with synchronization validation (missing barriers)\n"
               "  NOBLE_CACHE_DIR  where compiled kernels are kept (default $XDG_CACHE_HOME/noble or ~/.cache/noble)\n",
            NB_VERSION_MAJOR, NB_VERSION_MINOR, NB_VERSION_PATCH, nbc_commands_usage());
}

static int run_command(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "devices") == 0)
        return cmd_devices(argc - 2, argv + 2);
    if (strcmp(cmd, "selfcheck") == 0)
        return cmd_selfcheck(argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc - 2, argv + 2);
    for (const nbc_command *c = nbc_commands; c->name; c++)
        if (strcmp(cmd, c->name) == 0)
            return c->run(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("noble %d.%d.%d\n", NB_VERSION_MAJOR, NB_VERSION_MINOR, NB_VERSION_PATCH);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "noble: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}

/* Under mpirun or srun each rank runs the command (docs/mpi.md); a failure
 * on one rank ends them all. */
int main(int argc, char **argv)
{
    if (nbl_mpi_init(&argc, &argv))
        return 1;
    return nbl_mpi_finish(run_command(argc, argv));
}
