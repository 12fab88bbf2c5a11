/* lua_plot.c - noble.plot{...}: panels of lines, points and histograms drawn
 * by PLplot's pngcairo device into a PNG (docs/lua-api.md, "Plots").
 *
 * Three phases keep Lua errors and PLplot apart. First the spec is read and
 * checked, raising Lua errors freely: every buffer is a userdata anchored in
 * a table on the stack, so an error leaks nothing. Then PLplot draws, with
 * no Lua call in between, into its own stream (one per call) and into a
 * memory stream. PLplot's exit handler jumps back out instead of letting it
 * exit(), its abort handler records the message, and plsError keeps it from
 * printing. Last the PNG goes to PATH.tmp.PID and is renamed over PATH; on
 * any failure nothing is left behind, and the message becomes a Lua error. */
#include "nbl_internal.h"

#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <plplot.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PIXELS 8192
#define MAX_TEXT 400  /* bytes in one title or label */
#define MAX_LEGEND 32 /* labelled entries in one panel's legend */
#define SLOT0 16      /* first cmap0 entry for series colours; 0 bg, 1 axes, 2 grid */

enum { STYLE_LINE = 1, STYLE_POINTS = 2, STYLE_LINEPOINTS = 3 };

typedef struct rgb {
    unsigned char r, g, b;
} rgb;

typedef struct pseries {
    double *x, *y; /* log10 already taken on a log axis; non-finite: skipped */
    size_t n;
    const char *label; /* NULL: not in the legend */
    rgb color;
    int style;
    double width;
} pseries;

typedef struct phist {
    double *count;   /* per bin, over the panel's range lo..hi */
    double *sx, *sy; /* room for the outline, 2 * bins + 2 points */
    int bins;
    const char *label;
    rgb color;
} phist;

typedef struct ppanel {
    const char *title, *xlabel, *ylabel;
    double win[4]; /* x0, x1, y0, y1 (log10 on a log axis) */
    int log[2];
    int legend;      /* PL_POSITION_* flags, 0: none */
    double hlo, hhi; /* histogram range */
    pseries *s;
    phist *h;
    int ns, nh;
    /* tick labels, set while drawing */
    double step[2];
    int decimals[2], sci_digits[2];
} ppanel;

typedef struct pspec {
    const char *path, *tmp, *title;
    int width, height, rows, cols, np, slots;
    ppanel *p;
    double *cx, *cy; /* clipping scratch, `scratch` points each */
    size_t scratch;
} pspec;

typedef struct prun {
    pspec *spec;
    jmp_buf jump;
    PLINT stream, prev_stream, errcode;
    int made;
    FILE *mem;
    char *png;
    size_t png_size;
    char errmsg[1024]; /* PLplot's (plsError) */
    char fail[512];    /* ours; empty: no failure */
} prun;

/* ------------------------------------------------------------ spec reading */

/* Anchored in the table at stack index 2, so freed by Lua's collector even
 * when a Lua error cuts the call short. */
static void *scratch(lua_State *L, size_t bytes)
{
    void *p = lua_newuserdatauv(L, bytes ? bytes : 1, 0);
    lua_rawseti(L, 2, (lua_Integer)lua_rawlen(L, 2) + 1);
    memset(p, 0, bytes ? bytes : 1);
    return p;
}

/* Field k of the table at index t as text, NULL when nil or empty. '#' is
 * PLplot's escape character: doubled, so text shows as written. The cairo
 * driver drops strings of 500 characters or more. */
static const char *opt_text(lua_State *L, int t, const char *k, const char *ctx)
{
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (!lua_isstring(L, -1))
        luaL_error(L, "plot: %s%s must be a string, got %s", ctx, k, luaL_typename(L, -1));
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (n > MAX_TEXT)
        luaL_error(L, "plot: %s%s has %d bytes, more than %d", ctx, k, (int)n, MAX_TEXT);
    if (n == 0) {
        lua_pop(L, 1);
        return NULL;
    }
    size_t hashes = 0;
    for (size_t i = 0; i < n; i++)
        hashes += s[i] == '#';
    char *out = scratch(L, n + hashes + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        *o++ = s[i];
        if (s[i] == '#')
            *o++ = '#';
    }
    *o = '\0';
    lua_pop(L, 1);
    return out;
}

static double opt_number(lua_State *L, int t, const char *k, double def, const char *ctx)
{
    lua_getfield(L, t, k);
    double v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "plot: %s%s must be a number, got %s", ctx, k, luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static int opt_int(lua_State *L, int t, const char *k, int def, int lo, int hi, const char *ctx)
{
    double v = opt_number(L, t, k, def, ctx);
    if (!(v >= lo && v <= hi) || v != floor(v))
        luaL_error(L, "plot: %s%s is %f, give a whole number in %d..%d", ctx, k, v, lo, hi);
    return (int)v;
}

static int opt_bool(lua_State *L, int t, const char *k, int def)
{
    lua_getfield(L, t, k);
    int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* xlim / ylim: {lo, hi}, finite, lo < hi, positive on a log axis. Returns
 * 1 when given. */
static int opt_limits(lua_State *L, int t, const char *k, int logaxis, double out[2], const char *ctx)
{
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    int ok = lua_istable(L, -1) && luaL_len(L, -1) == 2;
    for (int i = 0; ok && i < 2; i++) {
        ok = lua_geti(L, -1, i + 1) == LUA_TNUMBER;
        out[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    if (!ok || !isfinite(out[0]) || !isfinite(out[1]) || !(out[0] < out[1]))
        luaL_error(L, "plot: %s%s must be {lo, hi} with finite lo < hi", ctx, k);
    if (logaxis) {
        if (!(out[0] > 0))
            luaL_error(L, "plot: %s%s must be positive on a log axis", ctx, k);
        out[0] = log10(out[0]);
        out[1] = log10(out[1]);
    }
    lua_pop(L, 1);
    return 1;
}

/* The list of numbers or tensor at index i (any rank, flattened) as
 * doubles; log10 on a log axis (non-positive values become NaN). */
static double *read_values(lua_State *L, int i, int logaxis, size_t *n, const char *ctx, const char *what)
{
    double *v;
    nbl_tensor *t = luaL_testudata(L, i, NBL_TENSOR);
    if (t) {
        if (!t->data)
            luaL_error(L, "plot: %s%s: the tensor was closed", ctx, what);
        *n = (size_t)t->n;
        v = scratch(L, *n * sizeof *v);
        for (size_t k = 0; k < *n; k++)
            v[k] = t->data[k];
    } else if (lua_istable(L, i)) {
        lua_Integer len = luaL_len(L, i);
        *n = len > 0 ? (size_t)len : 0;
        v = scratch(L, *n * sizeof *v);
        for (size_t k = 0; k < *n; k++) {
            if (lua_geti(L, i, (lua_Integer)k + 1) != LUA_TNUMBER)
                luaL_error(L, "plot: %s%s[%d] is %s, not a number", ctx, what, (int)k + 1, luaL_typename(L, -1));
            v[k] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    } else {
        luaL_error(L, "plot: %s%s must be a list of numbers or a tensor, got %s", ctx, what, luaL_typename(L, i));
        return NULL;
    }
    if (logaxis)
        for (size_t k = 0; k < *n; k++)
            v[k] = v[k] > 0 ? log10(v[k]) : NAN;
    return v;
}

static const rgb palette[] = {{0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e}, {0x2c, 0xa0, 0x2c}, {0xd6, 0x27, 0x28},
                              {0x94, 0x67, 0xbd}, {0x8c, 0x56, 0x4b}, {0xe3, 0x77, 0xc2}, {0x7f, 0x7f, 0x7f},
                              {0xbc, 0xbd, 0x22}, {0x17, 0xbe, 0xcf}};
#define NPALETTE ((int)(sizeof palette / sizeof palette[0]))

static int hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Field "color" of the table at t: "#rrggbb", "#rgb" or a palette index;
 * nil: palette entry `def` (0-based, cycling). */
static rgb opt_color(lua_State *L, int t, int def, const char *ctx)
{
    rgb c = palette[def % NPALETTE];
    lua_getfield(L, t, "color");
    if (lua_type(L, -1) == LUA_TNUMBER) {
        lua_Number v = lua_tonumber(L, -1);
        if (!(v >= 1 && v <= NPALETTE) || v != floor(v))
            luaL_error(L, "plot: %scolor %f is not a palette index (1..%d)", ctx, v, NPALETTE);
        c = palette[(int)v - 1];
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        int ok = s[0] == '#' && (n == 7 || n == 4);
        for (size_t i = 1; ok && i < n; i++)
            ok = hex(s[i]) >= 0;
        if (!ok)
            luaL_error(L, "plot: %sbad color '%s' (give \"#rrggbb\", \"#rgb\" or a palette index 1..%d)", ctx, s,
                       NPALETTE);
        if (n == 7) {
            c.r = (unsigned char)(hex(s[1]) * 16 + hex(s[2]));
            c.g = (unsigned char)(hex(s[3]) * 16 + hex(s[4]));
            c.b = (unsigned char)(hex(s[5]) * 16 + hex(s[6]));
        } else {
            c.r = (unsigned char)(hex(s[1]) * 17);
            c.g = (unsigned char)(hex(s[2]) * 17);
            c.b = (unsigned char)(hex(s[3]) * 17);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "plot: %sbad color (a %s; give \"#rrggbb\" or a palette index 1..%d)", ctx, luaL_typename(L, -1),
                   NPALETTE);
    }
    lua_pop(L, 1);
    return c;
}

/* The series table at index i. */
static void read_series(lua_State *L, int i, const ppanel *p, pseries *s, int index, const char *ctx)
{
    if (!lua_istable(L, i))
        luaL_error(L, "plot: %sa series must be a table, got %s", ctx, luaL_typename(L, i));
    lua_getfield(L, i, "y");
    if (lua_isnil(L, -1))
        luaL_error(L, "plot: %sy is missing", ctx);
    s->y = read_values(L, lua_gettop(L), p->log[1], &s->n, ctx, "y");
    lua_pop(L, 1);
    lua_getfield(L, i, "x");
    if (lua_isnil(L, -1)) { /* x defaults to 1..n */
        s->x = scratch(L, s->n * sizeof *s->x);
        for (size_t k = 0; k < s->n; k++)
            s->x[k] = p->log[0] ? log10((double)k + 1) : (double)k + 1;
    } else {
        size_t nx;
        s->x = read_values(L, lua_gettop(L), p->log[0], &nx, ctx, "x");
        if (nx != s->n)
            luaL_error(L, "plot: %sx has %d values, y has %d: they must be the same length", ctx, (int)nx, (int)s->n);
    }
    lua_pop(L, 1);
    if (s->n == 0)
        luaL_error(L, "plot: %sempty series (x and y have no values)", ctx);
    s->label = opt_text(L, i, "label", ctx);
    s->color = opt_color(L, i, index, ctx);
    s->width = opt_number(L, i, "width", 1.5, ctx);
    if (!(s->width > 0 && s->width <= 50))
        luaL_error(L, "plot: %swidth %f is outside (0, 50]", ctx, s->width);
    lua_getfield(L, i, "style");
    const char *style = lua_isnil(L, -1) ? "line" : lua_tostring(L, -1);
    if (!style)
        luaL_error(L, "plot: %sstyle must be a string, got %s", ctx, luaL_typename(L, -1));
    if (!strcmp(style, "line"))
        s->style = STYLE_LINE;
    else if (!strcmp(style, "points"))
        s->style = STYLE_POINTS;
    else if (!strcmp(style, "linepoints"))
        s->style = STYLE_LINEPOINTS;
    else
        luaL_error(L, "plot: %sunknown style '%s' (line, points or linepoints)", ctx, style);
    lua_pop(L, 1);
}

/* Widens r (min, max) to the finite values of v. */
static void extend(double r[2], const double *v, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (isfinite(v[k])) {
            r[0] = fmin(r[0], v[k]);
            r[1] = fmax(r[1], v[k]);
        }
}

/* The panel's histograms (the table at index i: one, or a list): values
 * counted into bins over one range for all, xlim when given. */
static void read_hists(lua_State *L, int i, ppanel *p, int has_xlim, size_t *room, const char *pctx)
{
    char ctx[96];
    if (!lua_istable(L, i))
        luaL_error(L, "plot: %shist must be a table, got %s", pctx, luaL_typename(L, i));
    lua_getfield(L, i, "values");
    int single = !lua_isnil(L, -1);
    lua_pop(L, 1);
    p->nh = single ? 1 : (int)luaL_len(L, i);
    if (p->nh < 1)
        luaL_error(L, "plot: %shist is empty: give {values = ...} or a list of them", pctx);
    p->h = scratch(L, (size_t)p->nh * sizeof *p->h);
    double **v = scratch(L, (size_t)p->nh * sizeof *v);
    size_t *n = scratch(L, (size_t)p->nh * sizeof *n);
    double r[2] = {INFINITY, -INFINITY};
    for (int k = 0; k < p->nh; k++) {
        phist *h = &p->h[k];
        snprintf(ctx, sizeof ctx, "%shist %d: ", pctx, k + 1);
        if (single)
            lua_pushvalue(L, i);
        else
            lua_geti(L, i, k + 1);
        int t = lua_gettop(L);
        if (!lua_istable(L, t))
            luaL_error(L, "plot: %sa histogram must be a table, got %s", ctx, luaL_typename(L, t));
        lua_getfield(L, t, "values");
        if (lua_isnil(L, -1))
            luaL_error(L, "plot: %svalues is missing", ctx);
        v[k] = read_values(L, lua_gettop(L), p->log[0], &n[k], ctx, "values");
        lua_pop(L, 1);
        if (n[k] == 0)
            luaL_error(L, "plot: %sempty histogram (values has none)", ctx);
        extend(r, v[k], n[k]);
        h->bins = opt_int(L, t, "bins", 30, 1, 100000, ctx);
        h->label = opt_text(L, t, "label", ctx);
        h->color = opt_color(L, t, p->ns + k, ctx);
        h->count = scratch(L, (size_t)h->bins * sizeof *h->count);
        h->sx = scratch(L, (2 * (size_t)h->bins + 2) * sizeof *h->sx);
        h->sy = scratch(L, (2 * (size_t)h->bins + 2) * sizeof *h->sy);
        if (2 * (size_t)h->bins + 2 > *room)
            *room = 2 * (size_t)h->bins + 2;
        lua_pop(L, 1);
    }
    if (has_xlim) {
        r[0] = p->win[0];
        r[1] = p->win[1];
    } else if (!(r[0] <= r[1])) {
        r[0] = 0, r[1] = 1; /* nothing finite */
    } else if (r[0] == r[1]) {
        double d = r[0] != 0 ? fabs(r[0]) * 0.05 : 0.5;
        r[0] -= d, r[1] += d;
    }
    p->hlo = r[0], p->hhi = r[1];
    for (int k = 0; k < p->nh; k++) {
        phist *h = &p->h[k];
        double w = (r[1] - r[0]) / h->bins;
        for (size_t j = 0; j < n[k]; j++) {
            double x = v[k][j];
            if (!(x >= r[0] && x <= r[1]))
                continue; /* outside xlim, or not finite */
            int b = (int)((x - r[0]) / w);
            h->count[b < h->bins ? b : h->bins - 1] += 1;
        }
    }
}

/* A padded range from r (min, max), or 0..1 when r holds nothing. */
static void pad(double r[2], int floor0)
{
    if (!(r[0] <= r[1])) {
        r[0] = 0, r[1] = 1;
        return;
    }
    if (r[0] == r[1]) {
        double d = r[0] != 0 ? fabs(r[0]) * 0.1 : 1;
        r[0] -= d, r[1] += d;
        return;
    }
    double d = (r[1] - r[0]) * 0.04;
    r[0] = floor0 && r[0] >= 0 ? r[0] : r[0] - d;
    r[1] += d;
}

static int legend_position(lua_State *L, int t, const char *ctx)
{
    const int tr = PL_POSITION_TOP | PL_POSITION_RIGHT;
    lua_getfield(L, t, "legend");
    int pos = tr;
    if (lua_type(L, -1) == LUA_TBOOLEAN) {
        pos = lua_toboolean(L, -1) ? tr : 0;
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        static const char *names[] = {"top right", "top left", "bottom right", "bottom left"};
        static const int at[] = {PL_POSITION_TOP | PL_POSITION_RIGHT, PL_POSITION_TOP | PL_POSITION_LEFT,
                                 PL_POSITION_BOTTOM | PL_POSITION_RIGHT, PL_POSITION_BOTTOM | PL_POSITION_LEFT};
        pos = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(s, names[i]))
                pos = at[i];
        if (pos < 0)
            luaL_error(L, "plot: %sunknown legend position '%s' (top right, top left, bottom right, bottom left)", ctx,
                       s);
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "plot: %slegend must be a boolean or a position, got %s", ctx, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return pos;
}

/* Panel table at index i. */
static void read_panel(lua_State *L, int i, ppanel *p, int index, size_t *room)
{
    char ctx[64], sctx[96];
    snprintf(ctx, sizeof ctx, "panel %d: ", index);
    if (!lua_istable(L, i))
        luaL_error(L, "plot: %sa panel must be a table, got %s", ctx, luaL_typename(L, i));
    p->title = opt_text(L, i, "title", ctx);
    p->xlabel = opt_text(L, i, "xlabel", ctx);
    p->ylabel = opt_text(L, i, "ylabel", ctx);
    p->log[0] = opt_bool(L, i, "logx", 0);
    p->log[1] = opt_bool(L, i, "logy", 0);
    int has_lim[2];
    has_lim[0] = opt_limits(L, i, "xlim", p->log[0], p->win, ctx);
    has_lim[1] = opt_limits(L, i, "ylim", p->log[1], p->win + 2, ctx);
    p->legend = legend_position(L, i, ctx);

    lua_getfield(L, i, "series");
    int st = lua_gettop(L);
    if (!lua_isnil(L, st)) {
        if (!lua_istable(L, st))
            luaL_error(L, "plot: %sseries must be a list of series, got %s", ctx, luaL_typename(L, st));
        p->ns = (int)luaL_len(L, st);
        p->s = scratch(L, (size_t)p->ns * sizeof *p->s);
        for (int k = 0; k < p->ns; k++) {
            snprintf(sctx, sizeof sctx, "%sseries %d: ", ctx, k + 1);
            lua_geti(L, st, k + 1);
            read_series(L, lua_gettop(L), p, &p->s[k], k, sctx);
            if (p->s[k].n > *room)
                *room = p->s[k].n;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    lua_getfield(L, i, "hist");
    if (!lua_isnil(L, -1))
        read_hists(L, lua_gettop(L), p, has_lim[0], room, ctx);
    lua_pop(L, 1);
    if (p->ns + p->nh == 0)
        luaL_error(L, "plot: %sno series and no hist: nothing to draw", ctx);
    int labels = 0;
    for (int k = 0; k < p->ns; k++)
        labels += p->s[k].label != NULL;
    for (int k = 0; k < p->nh; k++)
        labels += p->h[k].label != NULL;
    if (labels > MAX_LEGEND)
        luaL_error(L, "plot: %s%d labelled series, a legend holds at most %d", ctx, labels, MAX_LEGEND);
    if (!labels)
        p->legend = 0;

    /* The window: the data's range, padded, where no limits were given. */
    double r[2][2] = {{INFINITY, -INFINITY}, {INFINITY, -INFINITY}};
    for (int k = 0; k < p->ns; k++) {
        extend(r[0], p->s[k].x, p->s[k].n);
        extend(r[1], p->s[k].y, p->s[k].n);
    }
    int floor0 = 0;
    if (p->nh) {
        double e[2] = {p->hlo, p->hhi};
        extend(r[0], e, 2);
        for (int k = 0; k < p->nh; k++)
            for (int b = 0; b < p->h[k].bins; b++) {
                double c = p->h[k].count[b];
                double y = p->log[1] ? (c > 0 ? log10(c) : NAN) : c;
                extend(r[1], &y, 1);
            }
        floor0 = !p->log[1];
    }
    for (int a = 0; a < 2; a++)
        if (!has_lim[a]) {
            pad(r[a], a == 1 && floor0);
            if (p->log[a] && floor(r[a][1]) - ceil(r[a][0]) < 1) { /* under two decades to label */
                r[a][0] = floor(r[a][0]);
                r[a][1] = fmax(ceil(r[a][1]), r[a][0] + 1);
            }
            p->win[2 * a] = r[a][0];
            p->win[2 * a + 1] = r[a][1];
        }
}

static void read_spec(lua_State *L, pspec *s)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "path");
    s->path = lua_tostring(L, -1);
    if (!s->path || !*s->path)
        luaL_error(L, "plot: path (the PNG file to write) is missing");
    lua_rawseti(L, 2, (lua_Integer)lua_rawlen(L, 2) + 1); /* keeps the string */
    s->tmp = lua_pushfstring(L, "%s.tmp.%d", s->path, (int)getpid());
    lua_rawseti(L, 2, (lua_Integer)lua_rawlen(L, 2) + 1);
    s->width = opt_int(L, 1, "width", 1000, 16, MAX_PIXELS, "");
    s->height = opt_int(L, 1, "height", 700, 16, MAX_PIXELS, "");
    s->title = opt_text(L, 1, "title", "");

    lua_getfield(L, 1, "panels");
    int pt = lua_gettop(L);
    if (!lua_istable(L, pt) || luaL_len(L, pt) < 1)
        luaL_error(L, "plot: no panels: give panels = {{series = {...}}, ...}");
    s->np = (int)luaL_len(L, pt);
    if (s->np > 256)
        luaL_error(L, "plot: %d panels is too many (at most 256)", s->np);
    lua_getfield(L, 1, "rows");
    int has_rows = !lua_isnil(L, -1);
    lua_getfield(L, 1, "cols");
    int has_cols = !lua_isnil(L, -1);
    lua_pop(L, 2);
    s->rows = opt_int(L, 1, "rows", 1, 1, 256, "");
    s->cols = opt_int(L, 1, "cols", s->np, 1, 256, "");
    if (has_rows && !has_cols)
        s->cols = (s->np + s->rows - 1) / s->rows;
    else if (has_cols && !has_rows)
        s->rows = (s->np + s->cols - 1) / s->cols;
    if (s->rows * s->cols < s->np)
        luaL_error(L, "plot: %d panels do not fit %d rows x %d cols", s->np, s->rows, s->cols);
    s->p = scratch(L, (size_t)s->np * sizeof *s->p);
    for (int k = 0; k < s->np; k++) {
        lua_geti(L, pt, k + 1);
        read_panel(L, lua_gettop(L), &s->p[k], k + 1, &s->scratch);
        lua_pop(L, 1);
        if (s->p[k].ns + s->p[k].nh > s->slots)
            s->slots = s->p[k].ns + s->p[k].nh;
    }
    lua_pop(L, 1);
    s->cx = scratch(L, s->scratch * sizeof *s->cx);
    s->cy = scratch(L, s->scratch * sizeof *s->cy);
}

/* ----------------------------------------------------------------- drawing */

static prun *current; /* the call PLplot's handlers report to */

static int on_plexit(const char *msg)
{
    if (!current)
        return 1;
    if (!current->fail[0])
        snprintf(current->fail, sizeof current->fail, "plot: PLplot: %s", msg);
    longjmp(current->jump, 1);
}

static void on_plabort(const char *msg)
{
    if (current && !current->fail[0])
        snprintf(current->fail, sizeof current->fail, "plot: PLplot: %s", msg);
}

/* A tick step of 1, 2 or 5 times a power of ten, about `ticks` per range. */
static double nice_step(double range, double ticks)
{
    double raw = range / ticks, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.41 ? 1 : f < 3.16 ? 2 : f < 7.07 ? 5 : 10) * mag;
}

static void format_tick(double v, double step, int decimals, int sci_digits, char *out, size_t len)
{
    if (fabs(v) < step * 1e-6)
        v = 0; /* not "-0.0" or "1e-17" */
    if (sci_digits)
        snprintf(out, len, "%.*g", sci_digits, v);
    else
        snprintf(out, len, "%.*f", decimals, v);
}

static void tick_label(PLINT axis, PLFLT v, char *out, PLINT len, PLPointer data)
{
    const ppanel *p = data;
    int a = axis == PL_Y_AXIS;
    format_tick(v, p->step[a], p->decimals[a], p->sci_digits[a], out, (size_t)len);
}

/* The width of tick label text, in character heights: the cairo driver
 * asks pango for chrht points, which pango renders at 96 dpi, so an em is
 * 4/3 character heights; DejaVu Sans advances as below. */
static double text_width(const char *s)
{
    double w = 0;
    for (; *s; s++)
        w += *s == '.' ? 0.43 : *s == '-' ? 0.48 : *s == '+' ? 1.12 : 0.85;
    return w;
}

/* Chooses axis a's tick step for a length of `px` pixels; returns the
 * widest label, in character heights. */
static double plan_ticks(ppanel *p, int a, double px, double spacing)
{
    double lo = p->win[2 * a], hi = p->win[2 * a + 1];
    if (p->log[a]) {
        p->step[a] = 0; /* PLplot's decades, labelled 10^k */
        return 2.6;
    }
    double ticks = fmax(2, fmin(10, px / spacing));
    double step = nice_step(hi - lo, ticks), big = fmax(fabs(lo), fabs(hi));
    p->step[a] = step;
    p->decimals[a] = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    p->sci_digits[a] = 0;
    if (big >= 1e6 || p->decimals[a] > 5) {
        int d = (int)floor(log10(big)) - (int)floor(log10(step)) + 1;
        p->sci_digits[a] = d < 2 ? 2 : d > 8 ? 8 : d;
    }
    double widest = 1;
    char buf[64];
    for (double k = ceil(lo / step - 1e-9); k <= floor(hi / step + 1e-9) && widest < 40; k++) {
        format_tick(k * step, step, p->decimals[a], p->sci_digits[a], buf, sizeof buf);
        widest = fmax(widest, text_width(buf));
    }
    return widest;
}

/* Sets cmap0 entry `slot` and selects it. */
static void use_color(int slot, rgb c, double alpha)
{
    plscol0a(slot, c.r, c.g, c.b, alpha);
    plcol0(slot);
}

/* Puts a clipped point exactly on edge e of the window (none if e < 0):
 * computed from a far-out end it may have lost all precision. */
static void on_edge(const double *w, int e, double *x, double *y)
{
    if (e == 0 || e == 1)
        *x = w[e];
    else if (e == 2 || e == 3)
        *y = w[e];
}

/* Draws the polyline x, y within the window w (x0, x1, y0, y1), breaking it
 * at non-finite points. Clipping here keeps far-out values (a diverging
 * trace) from overflowing PLplot's integer device coordinates. */
static void polyline(const pspec *s, const double *w, const double *x, const double *y, size_t n)
{
    double *bx = s->cx, *by = s->cy;
    size_t m = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        double x0 = x[i], y0 = y[i], dx = x[i + 1] - x0, dy = y[i + 1] - y0;
        double t0 = 0, t1 = 1;
        int e0 = -1, e1 = -1; /* the edges that cut the segment */
        int keep = isfinite(x0) && isfinite(y0) && isfinite(dx) && isfinite(dy);
        double pq[4][2] = {{-dx, x0 - w[0]}, {dx, w[1] - x0}, {-dy, y0 - w[2]}, {dy, w[3] - y0}};
        for (int e = 0; keep && e < 4; e++) { /* Liang-Barsky */
            double pe = pq[e][0], qe = pq[e][1];
            if (pe == 0) {
                keep = qe >= 0;
            } else {
                double r = qe / pe;
                if (pe < 0 && r > t0)
                    t0 = r, e0 = e;
                else if (pe > 0 && r < t1)
                    t1 = r, e1 = e;
                keep = t0 <= t1;
            }
        }
        if (!keep) {
            if (m >= 2)
                plline((PLINT)m, bx, by);
            m = 0;
            continue;
        }
        if (t0 > 0 || m == 0) {
            if (m >= 2)
                plline((PLINT)m, bx, by);
            bx[0] = x0 + t0 * dx;
            by[0] = y0 + t0 * dy;
            on_edge(w, e0, bx, by);
            m = 1;
        }
        bx[m] = t1 < 1 ? x0 + t1 * dx : x[i + 1];
        by[m] = t1 < 1 ? y0 + t1 * dy : y[i + 1];
        on_edge(w, e1, bx + m, by + m);
        m++;
        if (t1 < 1) {
            plline((PLINT)m, bx, by);
            m = 0;
        }
    }
    if (m >= 2)
        plline((PLINT)m, bx, by);
}

/* Symbols at the finite points of x, y inside the window w. */
static void points(const pspec *s, const double *w, const double *x, const double *y, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] >= w[0] && x[i] <= w[1] && y[i] >= w[2] && y[i] <= w[3]) {
            s->cx[m] = x[i];
            s->cy[m] = y[i];
            m++;
        }
    if (m)
        plpoin((PLINT)m, s->cx, s->cy, 17);
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void draw_hist(const pspec *s, const ppanel *p, const phist *h, int slot, const double *w)
{
    double bw = (p->hhi - p->hlo) / h->bins, base = p->log[1] ? w[2] : clampd(0, w[2], w[3]);
    use_color(slot, h->color, 0.45);
    size_t m = 0;
    h->sx[m] = p->hlo, h->sy[m++] = base;
    for (int b = 0; b < h->bins; b++) {
        double c = h->count[b];
        double top = c > 0 ? clampd(p->log[1] ? log10(c) : c, w[2], w[3]) : base;
        double x0 = p->hlo + b * bw, x1 = x0 + bw;
        h->sx[m] = x0, h->sy[m++] = top;
        h->sx[m] = x1, h->sy[m++] = top;
        double fx0 = clampd(x0, w[0], w[1]), fx1 = clampd(x1, w[0], w[1]);
        if (c > 0 && fx0 < fx1 && top > base) {
            double fx[4] = {fx0, fx1, fx1, fx0}, fy[4] = {base, base, top, top};
            plfill(4, fx, fy);
        }
    }
    h->sx[m] = p->hhi, h->sy[m++] = base;
    use_color(slot, h->color, 1.0);
    plwidth(1.2);
    polyline(s, w, h->sx, h->sy, m);
}

static void draw_legend(const ppanel *p)
{
    PLINT opt[MAX_LEGEND], tcol[MAX_LEGEND], bcol[MAX_LEGEND], bpat[MAX_LEGEND], lcol[MAX_LEGEND], lsty[MAX_LEGEND];
    PLINT scol[MAX_LEGEND], snum[MAX_LEGEND];
    PLFLT bscale[MAX_LEGEND], bwidth[MAX_LEGEND], lwidth[MAX_LEGEND], sscale[MAX_LEGEND];
    const char *text[MAX_LEGEND], *sym[MAX_LEGEND];
    int n = 0;
    for (int k = 0; k < p->nh + p->ns; k++) {
        const phist *h = k < p->nh ? &p->h[k] : NULL;
        const pseries *sr = h ? NULL : &p->s[k - p->nh];
        const char *label = h ? h->label : sr->label;
        if (!label)
            continue;
        int slot = SLOT0 + (h ? p->ns + k : k - p->nh);
        if (h)
            plscol0a(slot, h->color.r, h->color.g, h->color.b, 0.6);
        opt[n] = h ? PL_LEGEND_COLOR_BOX
                   : (sr->style & STYLE_LINE ? PL_LEGEND_LINE : 0) | (sr->style & STYLE_POINTS ? PL_LEGEND_SYMBOL : 0);
        text[n] = label;
        tcol[n] = 1;
        bcol[n] = slot;
        bpat[n] = 0;
        bscale[n] = 0.8;
        bwidth[n] = 1;
        lcol[n] = slot;
        lsty[n] = 1;
        lwidth[n] = h ? 1 : sr->width;
        scol[n] = slot;
        sscale[n] = h ? 1 : fmin(3, 0.7 + 0.3 * sr->width);
        snum[n] = sr && sr->style == STYLE_POINTS ? 3 : 1;
        sym[n] = "#(850)";
        n++;
    }
    if (!n)
        return;
    PLFLT lw, lh;
    plwidth(1);
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             p->legend | PL_POSITION_INSIDE | PL_POSITION_VIEWPORT, 0.02, 0.03, 0.07, 0, 2, 1, 0, 0, n, opt, 0.8, 0.9,
             2.0, 0, tcol, text, bcol, bpat, bscale, bwidth, lcol, lsty, lwidth, scol, sscale, snum, sym);
}

/* Panel p in the cell x0..x1, y0..y1 (mm on a page of page_w x page_h mm). */
static void draw_panel(prun *r, ppanel *p, double x0, double x1, double y0, double y1, double page_w, double page_h,
                       double px_per_mm)
{
    const pspec *s = r->spec;
    PLFLT def, ht;
    plgchr(&def, &ht);
    double top = (p->title ? 2.6 : 1.2) * ht, bottom = (p->xlabel ? 4.3 : 2.6) * ht, right = 1.8 * ht;
    double vh = (y1 - top) - (y0 + bottom);
    double ynum = plan_ticks(p, 1, vh * px_per_mm, 80) + 0.9; /* y tick labels, in character heights */
    double left = (ynum + (p->ylabel ? 2.0 : 0.6)) * ht;
    plan_ticks(p, 0, (x1 - right - x0 - left) * px_per_mm, 120);
    double vx0 = (x0 + left) / page_w, vx1 = (x1 - right) / page_w, vy0 = (y0 + bottom) / page_h,
           vy1 = (y1 - top) / page_h;
    if (!(x1 - right - x0 - left > 8 * ht && vh > 4 * ht)) {
        snprintf(r->fail, sizeof r->fail, "plot: the image is too small for %d x %d panels with labels", s->rows,
                 s->cols);
        return;
    }
    plvpor(vx0, vx1, vy0, vy1);
    plwind(p->win[0], p->win[1], p->win[2], p->win[3]);
    const double w[4] = {p->win[0], p->win[1], p->win[2], p->win[3]};
    plslabelfunc(tick_label, p);
    plcol0(2);
    plwidth(0.8);
    plbox(p->log[0] ? "gl" : "g", p->step[0], 0, p->log[1] ? "gl" : "g", p->step[1], 0);

    /* the clipping window reaches a little past the viewport, which clips
     * exactly, so lines along an edge are not cut */
    double cw[4] = {w[0] - (w[1] - w[0]) * 0.01, w[1] + (w[1] - w[0]) * 0.01, w[2] - (w[3] - w[2]) * 0.01,
                    w[3] + (w[3] - w[2]) * 0.01};
    for (int k = 0; k < p->nh; k++)
        draw_hist(s, p, &p->h[k], SLOT0 + p->ns + k, cw);
    for (int k = 0; k < p->ns; k++) {
        const pseries *sr = &p->s[k];
        use_color(SLOT0 + k, sr->color, 1.0);
        plwidth(sr->width);
        if (sr->style & STYLE_LINE)
            polyline(s, cw, sr->x, sr->y, sr->n);
        if (sr->style & STYLE_POINTS) {
            plssym(0, fmin(3, 0.7 + 0.3 * sr->width));
            points(s, w, sr->x, sr->y, sr->n);
        }
    }

    plcol0(1);
    plwidth(1);
    plbox(p->log[0] ? "bcnstl" : "bcnsto", p->step[0], 0, p->log[1] ? "bcnstvl" : "bcnstvo", p->step[1], 0);
    if (p->xlabel)
        plmtex("b", 3.0, 0.5, 0.5, p->xlabel);
    if (p->ylabel)
        plmtex("l", ynum + 0.6, 0.5, 0.5, p->ylabel);
    if (p->legend)
        draw_legend(p);
    if (p->title) {
        plschr(0, 1.1);
        plmtex("t", 0.9, 0.5, 0.5, p->title);
        plschr(0, 1);
    }
}

/* Everything PLplot does; a PLplot exit lands in plot_guarded instead. */
static void render(prun *r)
{
    pspec *s = r->spec;
    plgstrm(&r->prev_stream);
    plmkstrm(&r->stream);
    if (r->stream < 0) {
        snprintf(r->fail, sizeof r->fail, "plot: PLplot has no free stream");
        return;
    }
    r->made = 1;
    plsError(&r->errcode, r->errmsg);

    const char *menu[128], *devs[128];
    const char **pm = menu, **pd = devs;
    int ndev = 128, found = 0;
    plgDevs(&pm, &pd, &ndev);
    for (int i = 0; i < ndev; i++)
        found |= devs[i] && !strcmp(devs[i], "pngcairo");
    if (!found) {
        snprintf(r->fail, sizeof r->fail, "plot: PLplot has no pngcairo device (install plplot-driver-cairo)");
        return;
    }
    plsdev("pngcairo");
    plsfile(r->mem);
    plspage(0, 0, s->width, s->height, 0, 0);
    plscmap0n(SLOT0 + s->slots);
    plscolbg(255, 255, 255);
    plscol0(1, 0, 0, 0);
    plscol0(2, 225, 225, 225);
    plinit();
    if (r->errcode)
        return;
    pladv(0);
    plvpor(0, 1, 0, 1);
    PLFLT mx0, mx1, my0, my1;
    plgspa(&mx0, &mx1, &my0, &my1);
    double page_w = mx1 - mx0, page_h = my1 - my0, px_per_mm = s->width / page_w;
    /* PLplot sizes text and ticks with the page; here they have the sizes
     * PLplot gives a 1000 x 700 page, times the panel's size against that
     * (0.7 to 1.5), so text keeps its size in pixels */
    double cell = fmin(s->width / (double)s->cols / 1000, s->height / (double)s->rows / 700);
    double scale = fmin(1.5, fmax(0.7, cell)), mm = 1.5 * scale;
    plschr(4 * mm, 1);
    plssym(4 * mm, 1);
    plsmaj(3 * mm, 1);
    plsmin(1.5 * mm, 1);
    PLFLT def, ht;
    plschr(0, fmax(1.2, 1 / scale)); /* the title: at least a lone 1000 x 700 panel's text */
    plgchr(&def, &ht);
    double title_h = s->title ? 2.4 * ht : 0.3 * ht;
    if (s->title)
        plmtex("t", -1.6, 0.5, 0.5, s->title);
    plschr(0, 1);
    double cw = page_w / s->cols, ch = (page_h - title_h) / s->rows;
    for (int k = 0; k < s->np && !r->fail[0] && !r->errcode; k++) {
        int row = k / s->cols, col = k % s->cols;
        double y1 = page_h - title_h - row * ch;
        draw_panel(r, &s->p[k], col * cw, (col + 1) * cw, y1 - ch, y1, page_w, page_h, px_per_mm);
    }
}

/* Ends the stream; the PNG is then in r->png. Returns after a PLplot exit
 * too, with r->fail set. */
static void plot_guarded(prun *r)
{
    current = r;
    plsexit(on_plexit);
    plsabort(on_plabort);
    if (setjmp(r->jump) == 0)
        render(r);
    if (!r->made) {
        fclose(r->mem);
        r->mem = NULL;
    } else if (setjmp(r->jump) == 0) {
        PLINT level = 0;
        plglevel(&level);
        plend1(); /* from level 1 on, writes the page and closes r->mem */
        if (level == 0)
            fclose(r->mem);
        r->mem = NULL;
        plsstrm(r->prev_stream);
    } /* else PLplot failed while ending: the stream is given up */
    plsexit(NULL);
    plsabort(NULL);
    current = NULL;
    if (!r->fail[0] && r->errcode) {
        size_t n = strcspn(r->errmsg, "\n");
        snprintf(r->fail, sizeof r->fail, "plot: PLplot: %.*s", (int)n, r->errmsg);
    }
}

/* Writes the PNG to f and closes f; returns 0 (r->fail set) on failure. */
static int write_png(prun *r, FILE *f)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!r->png || r->png_size < 8 || memcmp(r->png, sig, 8) != 0) {
        fclose(f);
        snprintf(r->fail, sizeof r->fail, "plot: PLplot wrote no PNG (%d bytes)", (int)r->png_size);
        return 0;
    }
    errno = 0;
    int ok = fwrite(r->png, 1, r->png_size, f) == r->png_size;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (!ok)
        snprintf(r->fail, sizeof r->fail, "plot: cannot write %s: %s", r->spec->path,
                 err ? strerror(err) : "write failed");
    return ok;
}

/* noble.plot(spec) -> path */
int nbl_plot(lua_State *L)
{
    lua_settop(L, 1);
    lua_newtable(L); /* index 2: anchors every buffer of this call */
    pspec s;
    memset(&s, 0, sizeof s);
    read_spec(L, &s);

    FILE *f = fopen(s.tmp, "wb");
    if (!f)
        return luaL_error(L, "plot: cannot write %s: %s", s.path, strerror(errno));
    prun r;
    memset(&r, 0, sizeof r);
    r.spec = &s;
    r.mem = open_memstream(&r.png, &r.png_size);
    if (!r.mem)
        snprintf(r.fail, sizeof r.fail, "plot: out of memory for the image");
    else
        plot_guarded(&r);
    if (r.fail[0])
        fclose(f);
    else if (write_png(&r, f) && rename(s.tmp, s.path) != 0)
        snprintf(r.fail, sizeof r.fail, "plot: cannot write %s: %s", s.path, strerror(errno));
    free(r.png);
    if (r.fail[0]) {
        unlink(s.tmp);
        return luaL_error(L, "%s", r.fail);
    }
    lua_pushstring(L, s.path);
    return 1;
}
