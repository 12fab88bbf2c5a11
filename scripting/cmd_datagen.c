/* cmd_datagen.c - `noble datagen`: ground-truth ensembles from NEURON.
 *
 * The simulations run in NEURON through its Python interface
 * (plugins/neuron/noble_datagen.py, Debian's /usr/bin/python3); this command
 * checks the arguments, starts the generator, turns its progress lines into a
 * progress bar with an ETA on stderr, and passes its status on. Where things
 * are comes from build/plugins/neuron/datagen.json (written by the build), or
 * from the file named by NOBLE_DATAGEN_CONFIG.
 *
 * Across MPI ranks (docs/mpi.md) every rank runs its own generator, with
 * --rank and --ranks, on its own NEURON workers; the generators swap the
 * outcomes of each round of candidates through this process: a line
 * "sync TEXT" from the generator is answered on its stdin with every rank's
 * TEXT, in rank order, separated by spaces (nbl_mpi_allgather_text). Rank 0's
 * generator joins the ranks' shards into the one dataset; only rank 0 draws
 * the progress bar and prints. */
#include "commands.h"
#include "nbl_internal.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 64

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "noble datagen: %s%s%s (see noble help)\n", msg, arg ? " " : "", arg ? arg : "");
    return 2;
}

/* The string value of "key" in a flat JSON object without escapes. */
static int json_get(const char *text, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(text, pat);
    if (!p)
        return -1;
    p = strchr(p + strlen(pat), '"');
    if (!p)
        return -1;
    const char *e = strchr(++p, '"');
    if (!e || (size_t)(e - p) >= cap)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
    return 0;
}

typedef struct paths {
    char python[PATH_MAX], script[PATH_MAX], cells[PATH_MAX], mech[PATH_MAX], feat[PATH_MAX];
} paths;

static int load_paths(paths *p)
{
    char cfg[PATH_MAX];
    const char *env = getenv("NOBLE_DATAGEN_CONFIG");
    if (env && *env) {
        snprintf(cfg, sizeof cfg, "%s", env);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            fprintf(stderr, "noble datagen: cannot find the noble executable's folder; set NOBLE_DATAGEN_CONFIG\n");
            return 1;
        }
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = 0;
        snprintf(cfg, sizeof cfg, "%.*s/../plugins/neuron/datagen.json", PATH_MAX - 40, exe);
    }
    FILE *f = fopen(cfg, "r");
    if (!f) {
        fprintf(stderr,
                "noble datagen: cannot open %s (%s): the NEURON plugin is not built; build noble with "
                "NEURON installed (./install-deps.sh), or set NOBLE_DATAGEN_CONFIG\n",
                cfg, strerror(errno));
        return 1;
    }
    char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    if (json_get(text, "python", p->python, sizeof p->python) ||
        json_get(text, "script", p->script, sizeof p->script) ||
        json_get(text, "cells_dir", p->cells, sizeof p->cells) ||
        json_get(text, "mechanisms", p->mech, sizeof p->mech) ||
        json_get(text, "features_lib", p->feat, sizeof p->feat)) {
        fprintf(stderr, "noble datagen: %s is malformed (python, script, cells_dir, mechanisms, features_lib)\n", cfg);
        return 1;
    }
    return 0;
}

static void fmt_time(double s, char *buf, size_t cap)
{
    if (s < 0 || s > 1e7)
        snprintf(buf, cap, "--");
    else if (s >= 3600)
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60)
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(buf, cap, "%ds", (int)s);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bar {
    int tty, first_done, last_len;
    long first;
    double t0;
} bar;

static void bar_draw(bar *b, long done, long total, long tried)
{
    if (!b->first_done) {
        b->first_done = 1;
        b->first = done; /* models already done by an earlier (resumed) run */
        b->t0 = now_s();
    }
    double el = now_s() - b->t0, eta = -1;
    if (done > b->first)
        eta = el / (double)(done - b->first) * (double)(total - done);
    char e1[32], e2[32], line[256];
    fmt_time(el, e1, sizeof e1);
    fmt_time(eta, e2, sizeof e2);
    int width = 30, fill = total > 0 ? (int)(width * done / total) : 0;
    char hashes[64];
    for (int i = 0; i < width; i++)
        hashes[i] = i < fill ? '#' : '.';
    hashes[width] = 0;
    int n = snprintf(line, sizeof line, "[%s] %ld/%ld models (%ld candidates) %s elapsed, ETA %s", hashes,
                     done, total, tried, e1, e2);
    if (b->tty) {
        fprintf(stderr, "\r%s%*s", line, b->last_len > n ? b->last_len - n : 0, "");
        b->last_len = n;
    } else {
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

/* One sync of the generators across ranks: this rank's text (a line, its newline
 * included) to every rank, every rank's back to the generator on fd as one line. */
static int answer_sync(const char *text, int fd)
{
    size_t len = strcspn(text, "\n");
    char *all = NULL, err[256];
    size_t n = 0;
    if (nbl_mpi_allgather_text(text, len, ' ', &all, &n, err, sizeof err) != 0) {
        fprintf(stderr, "noble datagen: %s\n", err);
        return -1;
    }
    all[n++] = '\n'; /* over the NUL */
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, all + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "noble datagen: the generator went away during a sync: %s\n", strerror(errno));
            free(all);
            return -1;
        }
        off += (size_t)w;
    }
    free(all);
    return 0;
}

int nbc_datagen(int argc, char **argv)
{
    static const char *value_opts[] = {"--cell", "--models", "--amplitudes", "--seed", "--jobs", "--out",
                                       "--threshold-offsets", "--test", "--validation", "--families",
                                       "--max-candidates", NULL};
    const char *out = NULL;
    char *args[MAX_ARGS];
    int na = 0;
    paths p;
    /* Options go to the generator as --name=value (a value may start with '-'). */
    static char joined[MAX_ARGS][PATH_MAX + 64];
    int nj = 0;
    const int rank = nbl_mpi_rank(), ranks = nbl_mpi_size();
    char rank_s[16], ranks_s[16];
    for (int i = 0; i < argc; i++) {
        char name[64];
        const char *a = argv[i], *v = NULL, *eq = strchr(a, '=');
        if (eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
        int known = 0;
        for (int k = 0; value_opts[k]; k++)
            known |= strcmp(name, value_opts[k]) == 0;
        if (!known)
            return usage_error("unknown argument", a);
        if (!v) {
            if (i + 1 >= argc)
                return usage_error("missing value after", a);
            v = argv[++i];
        }
        if (strcmp(name, "--out") == 0)
            out = v;
        /* Values are checked by the generator, which knows every range (one place for the messages);
         * here only what would reach it ambiguously: an option given twice. */
        size_t nl = strlen(name);
        for (int j = 0; j < nj; j++)
            if (strncmp(joined[j], name, nl) == 0 && joined[j][nl] == '=') {
                fprintf(stderr, "noble datagen: %s is given twice (%s and %s): give it once (see noble help)\n",
                        name, joined[j] + nl + 1, v);
                return 2;
            }
        if (nj >= MAX_ARGS - 12)
            return usage_error("too many arguments", NULL);
        int w = snprintf(joined[nj], sizeof joined[0], "%s=%s", name, v);
        if (w < 0 || (size_t)w >= sizeof joined[0])
            return usage_error("value too long after", name);
        nj++;
    }
    if (!out)
        return usage_error("--out FILE is required", NULL);
    if (load_paths(&p))
        return 1;
    args[na++] = p.python;
    args[na++] = p.script;
    for (int i = 0; i < nj; i++)
        args[na++] = joined[i];
    args[na++] = "--mechanisms";
    args[na++] = p.mech;
    args[na++] = "--features-lib";
    args[na++] = p.feat;
    args[na++] = "--cells-dir";
    args[na++] = p.cells;
    if (ranks > 1) {
        snprintf(rank_s, sizeof rank_s, "%d", rank);
        snprintf(ranks_s, sizeof ranks_s, "%d", ranks);
        args[na++] = "--rank";
        args[na++] = rank_s;
        args[na++] = "--ranks";
        args[na++] = ranks_s;
    }
    args[na] = NULL;

    int fd[2], back[2] = {-1, -1};
    if (pipe(fd) != 0 || (ranks > 1 && pipe(back) != 0)) {
        fprintf(stderr, "noble datagen: pipe: %s\n", strerror(errno));
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "noble datagen: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        if (ranks > 1) {
            /* the answers to its syncs; and it ends when this rank does (an abort of the job) */
            dup2(back[0], STDIN_FILENO);
            close(back[0]);
            close(back[1]);
            prctl(PR_SET_PDEATHSIG, SIGTERM);
        }
        execv(p.python, args);
        fprintf(stderr, "noble datagen: cannot run %s: %s (Debian: apt-get install python3-neuron)\n", p.python,
                strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    if (ranks > 1)
        close(back[0]);
    /* a generator that died mid-sync: its pipe's write fails (EPIPE) instead of killing this process */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old_pipe);
    FILE *in = fdopen(fd[0], "r");
    bar b = {isatty(STDERR_FILENO), 0, 0, 0, 0};
    char *line = NULL;
    size_t line_cap = 0;
    int drew = 0, lost = 0;
    while (in && getline(&line, &line_cap, in) > 0) {
        long done, total, tried;
        if (strncmp(line, "sync ", 5) == 0) {
            if (answer_sync(line + 5, back[1]) != 0) {
                lost = 1;
                break;
            }
            continue;
        }
        if (sscanf(line, "progress %ld %ld %ld", &done, &total, &tried) == 3) {
            bar_draw(&b, done, total, tried);
            drew = 1;
        } else if (strncmp(line, "done ", 5) == 0) {
            char path[PATH_MAX];
            long m, t, tr, rej;
            if (drew && b.tty)
                fputc('\n', stderr);
            drew = 0;
            if (sscanf(line + 5, "%4095s %ld %ld %ld %ld", path, &m, &t, &tr, &rej) == 5)
                printf("wrote %s: %ld models, %ld traces (%ld candidates simulated, %ld rejected)\n", path, m,
                       t, tr, rej);
        } else if (strncmp(line, "info ", 5) == 0) {
            fprintf(stderr, "noble datagen: %s", line + 5);
        }
    }
    free(line);
    if (lost)
        kill(pid, SIGTERM);
    if (in)
        fclose(in);
    if (ranks > 1)
        close(back[1]);
    sigaction(SIGPIPE, &old_pipe, NULL);
    if (drew && b.tty)
        fputc('\n', stderr);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (lost)
        return 1;
    if (WIFEXITED(status)) {
        int rc = WEXITSTATUS(status);
        if (rc == 0 && ranks > 1) {
            /* rank 0 joins the shards after the last sync: the others wait for it here, asleep,
             * so that a failure of the join still ends the whole job with its message */
            char err[256];
            if (nbl_mpi_wait_all(err, sizeof err) != 0) {
                fprintf(stderr, "noble datagen: %s\n", err);
                return 1;
            }
        }
        return rc == 0 ? 0 : rc == 2 ? 2 : 1;
    }
    fprintf(stderr, "noble datagen: the generator was killed (signal %d); rerun the same command to resume\n",
            WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 1;
}
