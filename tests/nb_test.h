/* nb_test.h - the few helpers every runtime test shares. Header-only so each
 * test is one file and one executable. */
#ifndef NB_TEST_H
#define NB_TEST_H

#include "nb_runtime.h"

#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nbt_failures;

#if defined(__SANITIZE_ADDRESS__)
/* Mesa's lavapipe leaks a small allocation when the loader unloads it at
 * vkDestroyInstance; once unloaded, LeakSanitizer cannot even name the
 * module, so no suppression can match it. Keeping the driver mapped
 * (RTLD_NODELETE) leaves that memory reachable and every leak of ours
 * still reported. */
__attribute__((constructor)) static void nbt_pin_driver(void)
{
    dlopen("libvulkan_lvp.so", RTLD_NOW | RTLD_NODELETE);
}
#endif

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            nbt_failures++;                                                                        \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        nb_status s_ = (expr);                                                                     \
        if (s_ != NB_OK) {                                                                         \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr,                    \
                    nb_status_name(s_), nb_last_error());                                          \
            nbt_failures++;                                                                        \
        }                                                                                          \
    } while (0)

#define REQUIRE_OK(expr)                                                                           \
    do {                                                                                           \
        nb_status s_ = (expr);                                                                     \
        if (s_ != NB_OK) {                                                                         \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr,                    \
                    nb_status_name(s_), nb_last_error());                                          \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* A context as the tests use it: validation must be on when the harness
 * says so (ctest sets NOBLE_TEST_REQUIRE_VALIDATION=1), so a missing layer
 * cannot silently turn the checks off. */
static inline nb_context *nbt_context(void)
{
    nb_context *ctx = NULL;
    REQUIRE_OK(nb_context_create(NULL, &ctx));
    const char *req = getenv("NOBLE_TEST_REQUIRE_VALIDATION");
    /* the CPU backend has no Vulkan, so no validation layer to require */
    if (req && strcmp(req, "1") == 0 && nb_context_backend(ctx) == NB_BACKEND_VULKAN &&
        !nb_context_validation_enabled(ctx)) {
        fprintf(stderr, "validation is required but off (set NOBLE_VALIDATE=1)\n");
        exit(1);
    }
    return ctx;
}

/* Fails the test on any validation message, destroys the context, and
 * returns the exit status. */
static inline int nbt_finish(nb_context *ctx)
{
    uint32_t n = nb_validation_count(ctx);
    for (uint32_t i = 0; i < n && i < 8; i++)
        fprintf(stderr, "validation: %s\n", nb_validation_message(ctx, i));
    CHECK(n == 0, "%u validation message(s)", n);
    nb_context_destroy(ctx);
    if (nbt_failures)
        fprintf(stderr, "%d check(s) failed\n", nbt_failures);
    else
        printf("all checks passed\n");
    return nbt_failures ? 1 : 0;
}

/* Deterministic pseudo-random numbers (xorshift64*), uniform in [-1, 1). */
/* Files in a folder, not counting dot files: nothing left behind? */
static inline int nbt_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static inline double nbt_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static const uint32_t nbt_one[3] = {1, 1, 1};

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#endif
