/* config.c - operator configurations, presets, the parameter table in
 * neuraloperator's names and shapes, PyTorch-like initialisation, the RNG. */
#include "nm_models.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

nb_status nm_config_preset(const char *name, nm_config *c)
{
    memset(c, 0, sizeof *c);
    if (!name)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "no preset name");
    if (strcmp(name, "noble") == 0) {
        *c = (nm_config){.in_channels = 23, .out_channels = 1, .width = 24, .blocks = 12, .modes = 129,
                         .length = 8580, .lifting_channels = 48, .projection_channels = 96, .mlp_channels = 12,
                         .grid = 1, .last_block_activation = 0};
    } else if (strcmp(name, "small") == 0) {
        *c = (nm_config){.in_channels = 1, .out_channels = 1, .width = 8, .blocks = 2, .modes = 16,
                         .length = 256, .lifting_channels = 16, .projection_channels = 16, .mlp_channels = 4,
                         .grid = 1, .last_block_activation = 0};
    } else {
        return nb_error(NB_ERR_INVALID_ARGUMENT, "unknown preset '%s' (known: noble, small)", name);
    }
    snprintf(c->preset, sizeof c->preset, "%s", name);
    return NB_OK;
}

uint32_t nm_config_lifting_in(const nm_config *c) { return c->in_channels + (c->grid ? 1 : 0); }

nb_status nm_config_check(const nm_config *c)
{
    if (!c)
        return nb_error(NB_ERR_INVALID_ARGUMENT, "no configuration");
#define NEED(cond, ...)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return nb_error(NB_ERR_INVALID_ARGUMENT, "model configuration: " __VA_ARGS__);        \
    } while (0)
    NEED(c->in_channels >= 1 && c->in_channels <= 256, "in_channels %u (1 to 256)", c->in_channels);
    NEED(c->out_channels >= 1 && c->out_channels <= 256, "out_channels %u (1 to 256)", c->out_channels);
    NEED(c->width >= 1 && c->width <= 256, "width %u (1 to 256)", c->width);
    NEED(c->blocks >= 1 && c->blocks <= 64, "blocks %u (1 to 64)", c->blocks);
    NEED(c->lifting_channels >= 1 && c->lifting_channels <= 256, "lifting_channels %u (1 to 256)",
         c->lifting_channels);
    NEED(c->projection_channels >= 1 && c->projection_channels <= 256, "projection_channels %u (1 to 256)",
         c->projection_channels);
    NEED(c->mlp_channels >= 1 && c->mlp_channels <= 256, "mlp_channels %u (1 to 256)", c->mlp_channels);
    NEED(c->grid <= 1 && c->last_block_activation <= 1, "grid and last_block_activation are 0 or 1");
    NEED(nb_fft_length_ok(c->length), "length %u is not one the FFT computes exactly; the nearest that is: %llu",
         c->length, (unsigned long long)nb_fft_good_length(c->length));
    NEED(c->modes >= 1 && c->modes < c->length / 2, "modes %u (1 to %u for length %u)", c->modes,
         c->length / 2 - 1, c->length);
#undef NEED
    return NB_OK;
}

static void put(nm_param *out, uint32_t cap, uint32_t *n, uint64_t *off, const char *name, int complex,
                uint32_t rank, uint32_t d0, uint32_t d1, uint32_t d2)
{
    uint64_t count = (uint64_t)d0 * (rank > 1 ? d1 : 1) * (rank > 2 ? d2 : 1) * (complex ? 2 : 1);
    if (*n < cap) {
        nm_param *p = &out[*n];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s", name);
        p->rank = rank;
        p->shape[0] = d0;
        p->shape[1] = d1;
        p->shape[2] = d2;
        p->complex = complex;
        p->offset = *off;
        p->count = count;
    }
    (*n)++;
    *off += count;
}

uint32_t nm_param_table(const nm_config *c, nm_param *out, uint32_t cap)
{
    uint32_t n = 0;
    uint64_t off = 0;
    const uint32_t I = nm_config_lifting_in(c), L = c->lifting_channels, C = c->width, E = c->mlp_channels,
                   H = c->projection_channels, O = c->out_channels, M = c->modes;
    char name[64];
    put(out, cap, &n, &off, "lifting.fcs.0.weight", 0, 3, L, I, 1);
    put(out, cap, &n, &off, "lifting.fcs.0.bias", 0, 1, L, 0, 0);
    put(out, cap, &n, &off, "lifting.fcs.1.weight", 0, 3, C, L, 1);
    put(out, cap, &n, &off, "lifting.fcs.1.bias", 0, 1, C, 0, 0);
    for (uint32_t j = 0; j < c->blocks; j++) {
        snprintf(name, sizeof name, "fno_blocks.convs.%u.weight.tensor", j); /* tltorch's DenseTensor */
        put(out, cap, &n, &off, name, 1, 3, C, C, M);
        snprintf(name, sizeof name, "fno_blocks.convs.%u.bias", j);
        put(out, cap, &n, &off, name, 0, 2, C, 1, 0);
        snprintf(name, sizeof name, "fno_blocks.fno_skips.%u.conv.weight", j);
        put(out, cap, &n, &off, name, 0, 3, C, C, 1);
        snprintf(name, sizeof name, "fno_blocks.channel_mlp.%u.fcs.0.weight", j);
        put(out, cap, &n, &off, name, 0, 3, E, C, 1);
        snprintf(name, sizeof name, "fno_blocks.channel_mlp.%u.fcs.0.bias", j);
        put(out, cap, &n, &off, name, 0, 1, E, 0, 0);
        snprintf(name, sizeof name, "fno_blocks.channel_mlp.%u.fcs.1.weight", j);
        put(out, cap, &n, &off, name, 0, 3, C, E, 1);
        snprintf(name, sizeof name, "fno_blocks.channel_mlp.%u.fcs.1.bias", j);
        put(out, cap, &n, &off, name, 0, 1, C, 0, 0);
        snprintf(name, sizeof name, "fno_blocks.channel_mlp_skips.%u.weight", j);
        put(out, cap, &n, &off, name, 0, 3, 1, C, 1);
    }
    put(out, cap, &n, &off, "projection.fcs.0.weight", 0, 3, H, C, 1);
    put(out, cap, &n, &off, "projection.fcs.0.bias", 0, 1, H, 0, 0);
    put(out, cap, &n, &off, "projection.fcs.1.weight", 0, 3, O, H, 1);
    put(out, cap, &n, &off, "projection.fcs.1.bias", 0, 1, O, 0, 0);
    return n;
}

uint64_t nm_param_count(const nm_config *c)
{
    const uint64_t I = nm_config_lifting_in(c), L = c->lifting_channels, C = c->width, E = c->mlp_channels,
                   H = c->projection_channels, O = c->out_channels, M = c->modes;
    uint64_t block = 2 * C * C * M + C + C * C + (E * C + E) + (C * E + C) + C;
    return (L * I + L) + (C * L + C) + c->blocks * block + (H * C + H) + (O * H + O);
}

/* ------------------------------------------------------------------- rng */

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void nm_rng_seed(nm_rng *r, uint64_t seed)
{
    uint64_t z = seed; /* splitmix64 expands the seed */
    for (int i = 0; i < 4; i++) {
        z += 0x9e3779b97f4a7c15ull;
        uint64_t t = z;
        t = (t ^ (t >> 30)) * 0xbf58476d1ce4e5b9ull;
        t = (t ^ (t >> 27)) * 0x94d049bb133111ebull;
        r->s[i] = t ^ (t >> 31);
    }
}

uint64_t nm_rng_next(nm_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double nm_rng_uniform(nm_rng *r) { return (double)(nm_rng_next(r) >> 11) * 0x1.0p-53; }

double nm_rng_normal(nm_rng *r)
{
    double u = nm_rng_uniform(r), v = nm_rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

void nm_params_init(const nm_config *c, uint64_t seed, float *params)
{
    nm_param t[8 + 8 * 64 + 8];
    uint32_t n = nm_param_table(c, t, sizeof t / sizeof *t);
    nm_rng r;
    nm_rng_seed(&r, seed);
    const double spec_std = sqrt(2.0 / (double)(c->width + c->width));
    for (uint32_t i = 0; i < n; i++) {
        const nm_param *p = &t[i];
        float *d = params + p->offset;
        const char *nm = p->name;
        size_t len = strlen(nm);
        if (strstr(nm, "channel_mlp_skips")) { /* soft gating starts as identity */
            for (uint64_t k = 0; k < p->count; k++)
                d[k] = 1.0f;
        } else if (strstr(nm, "convs.") && strstr(nm, ".weight")) {
            /* complex normal: real and imaginary parts each with variance std^2 / 2 */
            for (uint64_t k = 0; k < p->count; k++)
                d[k] = (float)(nm_rng_normal(&r) * spec_std / sqrt(2.0));
        } else if (strstr(nm, "convs.") && strstr(nm, ".bias")) {
            for (uint64_t k = 0; k < p->count; k++)
                d[k] = (float)(nm_rng_normal(&r) * spec_std);
        } else {
            /* Conv1d, kernel 1: fan_in is the input channels of its weight;
             * a bias uses the fan_in of the weight just before it. */
            uint32_t fan_in = len > 5 && strcmp(nm + len - 5, ".bias") == 0 ? t[i - 1].shape[1] : p->shape[1];
            double bound = 1.0 / sqrt((double)fan_in);
            for (uint64_t k = 0; k < p->count; k++)
                d[k] = (float)((2.0 * nm_rng_uniform(&r) - 1.0) * bound);
        }
    }
}
