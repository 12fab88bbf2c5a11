COMMENT
The process-wide NOBLE checkpoint that every NobleCell (noblecell.mod) uses,
as global hoc functions (a point process's FUNCTIONs are methods of its
instances, so the global ones live in this mechanism; it is never inserted):

  open_noble("ckpt.h5")   opens the checkpoint (the backend: NOBLE_BACKEND,
                          else "auto"); replaces one opened before. Without
                          it, the first NobleCell opens $NOBLE_CHECKPOINT.
  close_noble()           closes it (it is also closed at exit)
  window_noble()          the checkpoint's window, ms (506.88 for pvalb-reduced.h5)
  step_start_noble()      the step's onset in the window, ms (15)
  step_duration_noble()   the step's duration, ms (400)
  hof_models_noble()      the hall-of-fame models it records (45)
  sample_dt_noble()       the window's sample spacing, ms (0.12)

Errors (a missing or unreadable checkpoint) stop hoc with the embedding
ABI's message. The state is in noblecell.mod's code, behind its mutex.
ENDCOMMENT

NEURON {
    THREADSAFE
    SUFFIX noble
}

VERBATIM
#ifdef __cplusplus
extern "C" {
#endif
double nbc_open_hoc(void);
double nbc_close_hoc(void);
double nbc_info_hoc(int what);
#ifdef __cplusplus
}
#endif
ENDVERBATIM

FUNCTION open() {
VERBATIM
    _lopen = nbc_open_hoc();
ENDVERBATIM
}

FUNCTION close() {
VERBATIM
    _lclose = nbc_close_hoc();
ENDVERBATIM
}

FUNCTION window() (ms) {
VERBATIM
    _lwindow = nbc_info_hoc(0);
ENDVERBATIM
}

FUNCTION step_start() (ms) {
VERBATIM
    _lstep_start = nbc_info_hoc(1);
ENDVERBATIM
}

FUNCTION step_duration() (ms) {
VERBATIM
    _lstep_duration = nbc_info_hoc(2);
ENDVERBATIM
}

FUNCTION hof_models() {
VERBATIM
    _lhof_models = nbc_info_hoc(3);
ENDVERBATIM
}

FUNCTION sample_dt() (ms) {
VERBATIM
    _lsample_dt = nbc_info_hoc(4);
ENDVERBATIM
}
