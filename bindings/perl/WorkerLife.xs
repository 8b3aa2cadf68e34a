/* WorkerLife.xs: the Perl binding of libworkerlife, as XS methods in their
 * packages (WorkerLife, ::Policy, ::Pool, ::Worker, ::Watchdog, ::Decision).
 *
 * Objects. A policy, pool or worker is a blessed reference to a read-only
 * scalar holding the library's handle; the typemap (typemap) checks the
 * class of every invocant, and DESTROY frees the handle once (a freed
 * object holds 0, which the library refuses as a NULL argument). A forged
 * object gets no further: handles are registry entries the library checks
 * (WL_INVALID_HANDLE), never pointers it follows. A watchdog and a
 * decision hold a C struct by value in their scalar's buffer.
 *
 * Threads. The library's handles are thread-safe, so an object an ithread
 * inherits works in it; but only the original frees its handle. A clone
 * is marked as borrowing it when ithreads copy it (owner magic, its dup
 * hook), and its DESTROY lets it go without freeing. (CLONE_SKIP would
 * make every object undef in a new thread: a thread could no longer use
 * its process's pool.) A borrowed handle used after its owner freed it is
 * refused by the library (WL_INVALID_HANDLE), never followed.
 *
 * Arguments are read once (tied and overloaded values too: an object with
 * overloaded numbers is numified once, and that value is both the one
 * checked and the one used) and checked against the C type they become,
 * with an error naming the argument and the value. Errors croak
 * "workerlife: <the library's message>" at the caller's line and set
 * $WorkerLife::ERROR_CODE to the library's result code.
 *
 * Text. Texts the library writes into a buffer (policies, decisions,
 * errors) cannot change between the size query and the fill; stats, the
 * start-up line and round-error lines are allocated by the library in one
 * call, copied into a Perl string and freed at once (wl_string_free).
 * Host capabilities are passed by name and read from the library
 * (wl_host_capability), never copied as numbers.
 *
 * Nothing here keeps state but the fork counter (fork_count) and the
 * class stashes of each interpreter (MY_CXT). */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workerlife.h"

/* ---- Classes and objects ---------------------------------------------- */

enum wl_xs_class { WL_XS_POLICY, WL_XS_POOL, WL_XS_WORKER, WL_XS_WATCHDOG, WL_XS_DECISION, WL_XS_CLASSES };

static const char *const wl_xs_class_name[WL_XS_CLASSES] = {
    "WorkerLife::Policy", "WorkerLife::Pool", "WorkerLife::Worker", "WorkerLife::Watchdog",
    "WorkerLife::Decision",
};

/* Each interpreter's stashes of those classes: the class check of an
 * invocant is one pointer comparison (subclasses take sv_derived_from). */
#define MY_CXT_KEY "WorkerLife::_guts" XS_VERSION
typedef struct {
  HV *stash[WL_XS_CLASSES];
} my_cxt_t;
START_MY_CXT

static void wl_xs_find_stashes(pTHX_ my_cxt_t *cxt) {
  for (int i = 0; i < WL_XS_CLASSES; i++) cxt->stash[i] = gv_stashpv(wl_xs_class_name[i], GV_ADD);
}

/* A watchdog object's state: the handle and the process that started it
 * (a forked child has no watchdog thread). */
typedef struct {
  wl_watchdog *h;
  pid_t pid;
} wl_xs_watchdog;

/* The owner magic of a handle object: mg_private is 1 on a clone, which
 * borrows the handle. */
#ifdef USE_ITHREADS
static int wl_xs_dup(pTHX_ MAGIC *mg, CLONE_PARAMS *param) {
  PERL_UNUSED_CONTEXT;
  PERL_UNUSED_ARG(param);
  mg->mg_private = 1;
  return 0;
}
#endif
static MGVTBL wl_xs_owner = {
    NULL, NULL, NULL, NULL, NULL, NULL,
#ifdef USE_ITHREADS
    wl_xs_dup,
#else
    NULL,
#endif
    NULL,
};

/* Whether this object owns what it holds (it is no thread's clone). */
static bool wl_xs_owns(pTHX_ SV *obj) {
  MAGIC *mg = mg_findext(obj, PERL_MAGIC_ext, &wl_xs_owner);
  return !mg || !mg->mg_private;
}

/* A new object of class `cls` around `inner`, made read-only. */
static SV *wl_xs_bless(pTHX_ SV *inner, enum wl_xs_class cls) {
  dMY_CXT;
  SV *rv = sv_bless(newRV_noinc(inner), MY_CXT.stash[cls]);
  SvREADONLY_on(inner);
  return rv;
}

/* Marks `inner` as owning its handle (see wl_xs_owner). */
static SV *wl_xs_owning(pTHX_ SV *inner) {
  MAGIC *mg = sv_magicext(inner, NULL, PERL_MAGIC_ext, &wl_xs_owner, NULL, 0);
  mg->mg_flags |= MGf_DUP;
  return inner;
}

static SV *wl_xs_handle_object(pTHX_ const void *h, enum wl_xs_class cls) {
  return wl_xs_bless(aTHX_ wl_xs_owning(aTHX_ newSViv(PTR2IV(h))), cls);
}

/* The object `sv` refers to, if it is of class `cls`; croaks otherwise. */
static SV *wl_xs_object(pTHX_ SV *sv, enum wl_xs_class cls) {
  dMY_CXT;
  if (SvROK(sv)) {
    SV *obj = SvRV(sv);
    if (SvOBJECT(obj) && (SvSTASH(obj) == MY_CXT.stash[cls] || sv_derived_from(sv, wl_xs_class_name[cls])))
      return obj;
  }
  croak("workerlife: expected a %s object, not %" SVf, wl_xs_class_name[cls], SVfARG(sv));
}

/* The handle of a policy, pool or worker object (NULL once freed). */
static void *wl_xs_handle(pTHX_ SV *sv, enum wl_xs_class cls) {
  return INT2PTR(void *, SvIV(wl_xs_object(aTHX_ sv, cls)));
}

/* The struct a watchdog or decision object holds by value; NULL when its
 * buffer is not one (a forged object). */
static void *wl_xs_struct(pTHX_ SV *sv, enum wl_xs_class cls, size_t size) {
  SV *obj = wl_xs_object(aTHX_ sv, cls);
  return SvPOK(obj) && SvCUR(obj) == size ? (void *)SvPVX(obj) : NULL;
}

/* Takes the handle out of a policy, pool or worker object (it holds 0
 * after): the handle to free, or NULL when there is none or the object
 * only borrows it. */
static void *wl_xs_take_handle(pTHX_ SV *self) {
  if (!SvROK(self)) return NULL;
  SV *obj = SvRV(self);
  void *h = INT2PTR(void *, SvIV(obj));
  SvREADONLY_off(obj);
  sv_setiv(obj, 0);
  SvREADONLY_on(obj);
  return wl_xs_owns(aTHX_ obj) ? h : NULL;
}

/* ---- Text out of the library ----------------------------------------- */

/* The calls that write text into a caller's buffer (texts that cannot
 * change between two calls; stats come from wl_pool_stats_text). */
enum wl_xs_text {
  WL_XS_POLICY_TEXT,
  WL_XS_DECISION_TEXT,
  WL_XS_LAST_ERROR,
  WL_XS_RESULT_TEXT,
  WL_XS_KEY_VALUE,
};

/* A policy key's raw value, for WL_XS_KEY_VALUE. */
typedef struct {
  uint32_t key;
  uint64_t raw;
} wl_xs_key_value;

static wl_result wl_xs_write(enum wl_xs_text kind, const void *of, uint32_t code, char *buf, size_t len,
                             size_t *needed) {
  switch (kind) {
  case WL_XS_POLICY_TEXT: return wl_policy_to_string((const wl_policy *)of, buf, len, needed);
  case WL_XS_DECISION_TEXT: return wl_decision_text((const wl_decision *)of, buf, len, needed);
  case WL_XS_LAST_ERROR: return wl_last_error_message(buf, len, needed);
  case WL_XS_RESULT_TEXT: return wl_result_text(code, buf, len, needed);
  case WL_XS_KEY_VALUE: {
    const wl_xs_key_value *kv = of;
    return wl_key_format_value(kv->key, kv->raw, buf, len, needed);
  }
  }
  return WL_INVALID_ARGUMENT;
}

/* The one helper for the buffer-returning calls: the text as a new SV, or
 * NULL with *rc set. These texts cannot change between two calls, so one
 * size query is enough; a second refusal is the library's fault. */
static SV *wl_xs_string(pTHX_ enum wl_xs_text kind, const void *of, uint32_t code, wl_result *rc) {
  size_t size = 1024, needed = 0;
  SV *out = newSV(size);
  char *buf = SvPVX(out);
  *rc = wl_xs_write(kind, of, code, buf, size, &needed);
  if (*rc == WL_BUFFER_TOO_SMALL) {
    size = needed + 1;
    buf = SvGROW(out, size);
    *rc = wl_xs_write(kind, of, code, buf, size, &needed);
  }
  if (*rc != WL_OK) {
    SvREFCNT_dec(out);
    return NULL;
  }
  SvCUR_set(out, strnlen(buf, size));
  SvPOK_only(out);
  return out;
}

/* A string the library allocated for the caller, as a new SV (undef for
 * NULL); the library's copy is freed (wl_string_free). */
static SV *wl_xs_owned(pTHX_ char *s) {
  if (!s) return newSV(0);
  SV *sv = newSVpv(s, 0);
  wl_string_free(s);
  return sv;
}

/* Croaks with the library's message for `rc` (at the caller's line) and
 * keeps the code in $WorkerLife::ERROR_CODE. */
static void wl_xs_fail(pTHX_ wl_result rc) __attribute__((noreturn));
static void wl_xs_fail(pTHX_ wl_result rc) {
  wl_result ignored;
  sv_setuv(get_sv("WorkerLife::ERROR_CODE", GV_ADD), rc);
  SV *msg = wl_xs_string(aTHX_ WL_XS_LAST_ERROR, NULL, 0, &ignored);
  if (msg && !SvCUR(msg)) {
    SvREFCNT_dec(msg);
    msg = NULL;
  }
  if (!msg) msg = wl_xs_string(aTHX_ WL_XS_RESULT_TEXT, NULL, rc, &ignored);
  if (!msg) msg = newSVpvf("result %u", (unsigned)rc);
  croak("workerlife: %" SVf, SVfARG(sv_2mortal(msg)));
}

#define WL_XS_CHECK(call)                                                                                \
  do {                                                                                                   \
    wl_result wl_xs_rc_ = (call);                                                                        \
    if (wl_xs_rc_ != WL_OK) wl_xs_fail(aTHX_ wl_xs_rc_);                                                 \
  } while (0)

static SV *wl_xs_text_of(pTHX_ enum wl_xs_text kind, const void *of) {
  wl_result rc;
  SV *s = wl_xs_string(aTHX_ kind, of, 0, &rc);
  if (!s) {
    if (rc == WL_BUFFER_TOO_SMALL) croak("workerlife: the library asked for a larger buffer twice");
    wl_xs_fail(aTHX_ rc);
  }
  return s;
}

/* A pool's stats in `format` (WL_STATS_*), in one call: the library
 * allocates the text, so a counter that gains a digit meanwhile cannot
 * make it fail. */
static SV *wl_xs_stats(pTHX_ const wl_pool *pool, uint32_t format) {
  char *text = NULL;
  WL_XS_CHECK(wl_pool_stats_text(pool, format, &text));
  return wl_xs_owned(aTHX_ text);
}

/* ---- Arguments --------------------------------------------------------- */

/* The text of `sv` (its `len` bytes at `s`) with each NUL byte as \0, as
 * a new mortal SV: an error message shows the value without carrying the
 * NUL itself. */
static SV *wl_xs_nul_shown(pTHX_ SV *sv, const char *s, STRLEN len) {
  SV *shown = sv_2mortal(newSVpvs(""));
  for (STRLEN i = 0; i < len; i++) {
    if (s[i]) sv_catpvn(shown, s + i, 1);
    else sv_catpvs(shown, "\\0");
  }
  if (SvUTF8(sv)) SvUTF8_on(shown);
  return shown;
}

/* How a value is shown in an error: "text", or undef. */
static SV *wl_xs_shown(pTHX_ SV *sv) {
  if (!SvOK(sv)) return sv_2mortal(newSVpvs("undef"));
  STRLEN len;
  const char *s = SvPV_nomg(sv, len);
  return sv_2mortal(newSVpvf("\"%" SVf "\"", SVfARG(wl_xs_nul_shown(aTHX_ sv, s, len))));
}

/* An argument's value, read once (its get-magic run here, once). An object
 * with overloaded numbers is numified here, once; any other reference
 * croaks. */
static SV *wl_xs_plain(pTHX_ const char *what, SV *sv) {
  SvGETMAGIC(sv);
  if (!SvROK(sv)) return sv;
  if (SvAMAGIC(sv)) {
    SV *n = amagic_call(sv, &PL_sv_undef, numer_amg, AMGf_noright | AMGf_unary);
    if (n && !SvROK(n)) return n;
  }
  croak("workerlife: %s must be a number, not %" SVf, what, SVfARG(sv));
}

static bool wl_xs_digits(const char *s, STRLEN len, STRLEN most) {
  return len >= 1 && len <= most && strspn(s, "0123456789") == len;
}

/* The largest whole number an argument may be when nothing smaller
 * applies: 19 digits (every one fits a u64). */
#define WL_XS_WHOLE_MAX UINT64_C(9999999999999999999)

/* A whole number from `min` to `max`. A float's text is rounded to 15
 * digits (969873664507936.5 reads "969873664507936"), so a number with a
 * float value must also be that whole number: its fraction is refused, not
 * dropped. */
static UV wl_xs_whole(pTHX_ const char *what, SV *arg, UV min, UV max) {
  SV *sv = wl_xs_plain(aTHX_ what, arg);
  if (SvOK(sv)) {
    STRLEN len;
    const char *s = SvPV_nomg(sv, len);
    if (wl_xs_digits(s, len, 19)) {
      UV v = (UV)strtoull(s, NULL, 10);
      if (SvNOK(sv) && SvNV_nomg(sv) != (NV)v)
        croak("workerlife: %s must be a whole number from %" UVuf " to %" UVuf ", not %.1" NVff, what, min, max,
              SvNV_nomg(sv));
      if (v >= min && v <= max) return v;
    }
  }
  croak("workerlife: %s must be a whole number from %" UVuf " to %" UVuf ", not %" SVf, what, min, max,
        SVfARG(wl_xs_shown(aTHX_ sv)));
}

static uint32_t wl_xs_pid(pTHX_ SV *arg, bool zero_ok) {
  return (uint32_t)wl_xs_whole(aTHX_ "pid", arg, zero_ok ? 0 : 1, UINT32_MAX);
}

static uint32_t wl_xs_slot(pTHX_ const char *what, SV *arg) {
  return (uint32_t)wl_xs_whole(aTHX_ what, arg, 0, UINT32_MAX);
}

/* A decimal without sign: 5, 5., .5, 5.5, each with an optional exponent. */
static bool wl_xs_decimal(const char *s, STRLEN len) {
  const char *p = s, *end = s + len;
  STRLEN whole = 0, frac = 0;
  while (p < end && isDIGIT(*p)) p++, whole++;
  if (p < end && *p == '.')
    for (p++; p < end && isDIGIT(*p); p++) frac++;
  if (!whole && !frac) return false;
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    const char *digits = p;
    while (p < end && isDIGIT(*p)) p++;
    if (p == digits) return false;
  }
  return p == end;
}

/* Seconds: a finite number from 0 to 1e9 (about 31 years; more, or 'inf',
 * is a mistake rather than a wish to wait forever). */
static NV wl_xs_seconds(pTHX_ const char *what, SV *arg) {
  SV *sv = wl_xs_plain(aTHX_ what, arg);
  if (SvOK(sv)) {
    STRLEN len;
    const char *s = SvPV_nomg(sv, len);
    if (wl_xs_decimal(s, len)) {
      NV v = SvNV_nomg(sv);
      if (v <= 1e9) return v;
    }
  }
  croak("workerlife: %s must be a number of seconds from 0 to 1e9, not %" SVf, what,
        SVfARG(wl_xs_shown(aTHX_ sv)));
}

/* A percentage from 0 to 100. */
static NV wl_xs_percent(pTHX_ const char *what, SV *arg) {
  SV *sv = wl_xs_plain(aTHX_ what, arg);
  if (SvOK(sv)) {
    STRLEN len;
    const char *s = SvPV_nomg(sv, len);
    if (wl_xs_decimal(s, len)) {
      NV v = SvNV_nomg(sv);
      if (v <= 100) return v;
    }
  }
  croak("workerlife: %s must be a percentage from 0 to 100, not %" SVf, what, SVfARG(wl_xs_shown(aTHX_ sv)));
}

/* A wait status as waitpid() gives it in $? (a C int). */
static int32_t wl_xs_wait_status(pTHX_ SV *arg) {
  SV *sv = wl_xs_plain(aTHX_ "the wait status", arg);
  if (SvOK(sv)) {
    STRLEN len;
    const char *s = SvPV_nomg(sv, len);
    bool neg = len && s[0] == '-';
    if (wl_xs_digits(s + neg, len - neg, 10)) {
      long long v = strtoll(s, NULL, 10);
      if (v >= INT32_MIN && v <= INT32_MAX) return (int32_t)v;
    }
  }
  croak("workerlife: the wait status must be a whole number from -2147483648 to 2147483647, not %" SVf,
        SVfARG(wl_xs_shown(aTHX_ sv)));
}

/* The last signal number Linux has (its last real-time signal). */
#define WL_XS_LAST_SIGNAL 64

/* 15, 'TERM' or 'SIGTERM' as a number from 0 to 64; an overloaded object
 * is read once, as text. */
static int32_t wl_xs_signal(pTHX_ SV *arg) {
  SvGETMAGIC(arg);
  if (!SvOK(arg)) croak("workerlife: no signal given");
  STRLEN len;
  const char *s;
  if (SvROK(arg)) {
    if (!SvAMAGIC(arg)) croak("workerlife: a signal must be a number or a name, not %" SVf, SVfARG(arg));
    s = SvPV_nomg(arg, len); /* its "" overload, once */
    arg = sv_2mortal(newSVpvn(s, len));
  }
  s = SvPV_nomg(arg, len);
  if (wl_xs_digits(s, len, len ? len : 1)) {
    UV n = len <= 19 ? (UV)strtoull(s, NULL, 10) : UV_MAX;
    if (n > WL_XS_LAST_SIGNAL) croak("workerlife: signal %" SVf " is out of range (0 to 64)", SVfARG(arg));
    return (int32_t)n;
  }
  const char *name = len >= 3 && memcmp(s, "SIG", 3) == 0 ? s + 3 : s;
  I32 n = whichsig_pvn(name, len - (STRLEN)(name - s));
  if (n < 0 || n > WL_XS_LAST_SIGNAL) croak("workerlife: unknown signal %" SVf, SVfARG(wl_xs_shown(aTHX_ arg)));
  return (int32_t)n;
}

/* A string for the library: the C side would stop at a NUL byte and
 * silently drop the rest, so one is an error. */
static const char *wl_xs_text_arg(pTHX_ const char *what, SV *sv) {
  SvGETMAGIC(sv);
  if (!SvOK(sv) || SvROK(sv)) croak("workerlife: %s must be a string", what);
  STRLEN len;
  const char *s = SvPV_nomg(sv, len);
  if (memchr(s, 0, len))
    croak("workerlife: %s contains a NUL byte: \"%" SVf "\"", what, SVfARG(wl_xs_nul_shown(aTHX_ sv, s, len)));
  return s;
}

/* The WL_HOST_* bits of the capability names args[0 .. n-1] ("heartbeat",
 * "watchdog_kills", ...), each read from the library by name; an unknown
 * name croaks, naming it. */
static uint32_t wl_xs_caps(pTHX_ SV **args, I32 n) {
  uint32_t caps = 0;
  for (I32 i = 0; i < n; i++) {
    const char *name = wl_xs_text_arg(aTHX_ "a host capability", args[i]);
    uint32_t bit = wl_host_capability(name);
    if (!bit) croak("workerlife: unknown host capability \"%s\"", name);
    caps |= bit;
  }
  return caps;
}

/* Named options (key => value pairs from `first` on the stack) into a new
 * mortal hash, each key one of `known` (NULL-terminated); an unknown key
 * croaks, naming it and the kind of option. */
static HV *wl_xs_options(pTHX_ SV **args, I32 n, const char *kind, const char *const *known) {
  if (n % 2) croak("workerlife: %s options come in name => value pairs", kind);
  HV *hv = (HV *)sv_2mortal((SV *)newHV());
  for (I32 i = 0; i < n; i += 2) (void)hv_store_ent(hv, args[i], newSVsv(args[i + 1]), 0);
  /* Refused in name order, as before: the first unknown name is reported. */
  SV *bad = NULL;
  for (I32 i = 0; i < n; i += 2) {
    const char *k = SvPV_nolen(args[i]);
    bool ok = false;
    for (const char *const *p = known; *p; p++) ok = ok || strcmp(k, *p) == 0;
    if (!ok && (!bad || sv_cmp(args[i], bad) < 0)) bad = args[i];
  }
  if (bad) croak("workerlife: unknown %s option \"%" SVf "\"", kind, SVfARG(bad));
  return hv;
}

/* The option `key` of `hv`, or undef. */
static SV *wl_xs_opt(pTHX_ HV *hv, const char *key) {
  SV **v = hv_fetch(hv, key, (I32)strlen(key), 0);
  return v ? *v : &PL_sv_undef;
}

/* ---- Values into Perl -------------------------------------------------- */

/* A reading: undef for "none" and the other reserved values. */
static SV *wl_xs_reading(pTHX_ uint64_t v) {
  return v >= WL_READING_UNSUPPORTED ? newSV(0) : newSVuv(v);
}

static SV *wl_xs_seconds_sv(pTHX_ uint64_t us) { return newSVnv((NV)us / 1e6); }

static SV *wl_xs_name(pTHX_ const char *s) { return s ? newSVpv(s, 0) : newSV(0); }

/* A reason's name; undef for none (0). */
static SV *wl_xs_reason(pTHX_ uint32_t code) { return code ? wl_xs_name(aTHX_ wl_reason_name(code)) : newSV(0); }

/* A raw policy or decision value in Perl terms: seconds for durations. */
static SV *wl_xs_value(pTHX_ uint32_t unit, uint64_t raw) {
  return unit == WL_UNIT_MICROSECONDS ? newSVnv((NV)raw / 1e6) : newSVuv(raw);
}

static SV *wl_xs_sample_hash(pTHX_ const wl_sample *s) {
  HV *hv = newHV();
  (void)hv_stores(hv, "pid", newSVuv(s->pid));
  (void)hv_stores(hv, "start_time", wl_xs_reading(aTHX_ s->start_time));
  (void)hv_stores(hv, "rss", wl_xs_reading(aTHX_ s->rss));
  (void)hv_stores(hv, "fds", wl_xs_reading(aTHX_ s->fds));
  (void)hv_stores(hv, "uss", wl_xs_reading(aTHX_ s->uss));
  (void)hv_stores(hv, "pss", wl_xs_reading(aTHX_ s->pss));
  return newRV_noinc((SV *)hv);
}

static SV *wl_xs_action_hash(pTHX_ const wl_pool_action *a) {
  HV *hv = newHV();
  (void)hv_stores(hv, "action", wl_xs_name(aTHX_ wl_pool_action_kind_name(a->kind)));
  (void)hv_stores(hv, "slot", newSVuv(a->slot));
  (void)hv_stores(hv, "pid", newSVuv(a->pid));
  (void)hv_stores(hv, "reason", wl_xs_reason(aTHX_ a->reason));
  (void)hv_stores(hv, "generation", newSVuv(a->generation));
  (void)hv_stores(hv, "identity", newSVuv(a->identity));
  (void)hv_stores(hv, "not_before", wl_xs_seconds_sv(aTHX_ a->not_before_us));
  (void)hv_stores(hv, "replaces", a->replaces == WL_NO_SLOT ? newSV(0) : newSVuv(a->replaces));
  return newRV_noinc((SV *)hv);
}

static SV *wl_xs_event_hash(pTHX_ const wl_event *e) {
  HV *hv = newHV();
  (void)hv_stores(hv, "kind", wl_xs_name(aTHX_ wl_event_kind_name(e->kind)));
  (void)hv_stores(hv, "slot", newSVuv(e->slot));
  (void)hv_stores(hv, "pid", newSVuv(e->pid));
  (void)hv_stores(hv, "generation", newSVuv(e->generation));
  (void)hv_stores(hv, "reason", wl_xs_reason(aTHX_ e->reason));
  (void)hv_stores(hv, "status", e->has_status ? newSViv(e->status) : newSV(0));
  (void)hv_stores(hv, "crash", newSViv(e->crash ? 1 : 0));
  (void)hv_stores(hv, "oom_killed", newSViv(e->oom_killed ? 1 : 0));
  (void)hv_stores(hv, "at", wl_xs_seconds_sv(aTHX_ e->at_us));
  (void)hv_stores(hv, "uptime", wl_xs_seconds_sv(aTHX_ e->uptime_us));
  (void)hv_stores(hv, "requests", newSVuv(e->requests));
  (void)hv_stores(hv, "rss", wl_xs_reading(aTHX_ e->rss));
  /* Absent (WL_NO_READING) but for crash loops and ready replacements. */
  (void)hv_stores(hv, "delay", e->delay_us >= WL_READING_UNSUPPORTED ? newSV(0) : wl_xs_seconds_sv(aTHX_ e->delay_us));
  /* NaN: unknown. */
  (void)hv_stores(hv, "growth_per_request", Perl_isnan(e->growth_per_request) ? newSV(0) : newSVnv(e->growth_per_request));
  (void)hv_stores(hv, "growth_per_second", Perl_isnan(e->growth_per_second) ? newSV(0) : newSVnv(e->growth_per_second));
  /* The span fitted: requests and seconds between the first and last
   * reading (undef when the growth is not known). */
  bool fitted = !Perl_isnan(e->growth_per_request);
  (void)hv_stores(hv, "growth_requests", fitted ? newSVuv(e->growth_requests) : newSV(0));
  (void)hv_stores(hv, "growth_seconds", Perl_isnan(e->growth_seconds) ? newSV(0) : newSVnv(e->growth_seconds));
  /* What tripped, for recycles and kills (seconds for durations). */
  uint32_t unit = e->reason ? wl_reason_unit(e->reason) : WL_UNIT_COUNT;
  (void)hv_stores(hv, "value", e->value == WL_NO_READING ? newSV(0) : wl_xs_value(aTHX_ unit, e->value));
  (void)hv_stores(hv, "limit", e->limit == WL_NO_READING ? newSV(0) : wl_xs_value(aTHX_ unit, e->limit));
  /* The line every host logs (after "workerlife: "), and how loud:
   * WL_SEVERITY_INFO, _WARNING or _ERROR. */
  (void)hv_stores(hv, "line", wl_xs_name(aTHX_ wl_event_string(e)));
  (void)hv_stores(hv, "severity", newSVuv(wl_event_severity(e)));
  return newRV_noinc((SV *)hv);
}

static SV *wl_xs_decision_object(pTHX_ const wl_decision *d) {
  return wl_xs_bless(aTHX_ newSVpvn((const char *)d, sizeof *d), WL_XS_DECISION);
}

/* ---- Policies ----------------------------------------------------------- */

/* The number and unit of policy key `name`; croaks for an unknown one. */
static uint32_t wl_xs_key(pTHX_ SV *name, uint32_t *unit) {
  const char *s = SvPV_nolen(name);
  for (uint32_t k = 0; wl_key_name(k); k++) {
    if (strcmp(wl_key_name(k), s) == 0) {
      *unit = wl_key_unit(k);
      return k;
    }
  }
  croak("workerlife: unknown policy key \"%" SVf "\"", SVfARG(name));
}

/* A key's value: seconds for durations, bytes or a count otherwise; a
 * value the spec writes as a word (auto, 10%) as that text. */
static SV *wl_xs_policy_get(pTHX_ const wl_policy *p, uint32_t key, uint32_t unit) {
  uint64_t raw = 0;
  WL_XS_CHECK(wl_policy_get_raw(p, key, &raw));
  if (!wl_key_is_number(key, raw)) {
    wl_xs_key_value kv = {key, raw};
    return wl_xs_text_of(aTHX_ WL_XS_KEY_VALUE, &kv);
  }
  return wl_xs_value(aTHX_ unit, raw);
}

static void wl_xs_free_policy(pTHX_ void *p) {
  PERL_UNUSED_CONTEXT;
  wl_policy_free((wl_policy *)p);
}

/* A pool's policy argument: a WorkerLife::Policy, a spec string, or undef
 * (the defaults). *made is a policy made here, freed when the caller's
 * scope (ENTER/LEAVE) ends, croak or not. */
static const wl_policy *wl_xs_policy_arg(pTHX_ SV *arg, wl_policy **made) {
  *made = NULL;
  SvGETMAGIC(arg);
  if (sv_isobject(arg) && sv_derived_from(arg, wl_xs_class_name[WL_XS_POLICY]))
    return wl_xs_handle(aTHX_ arg, WL_XS_POLICY);
  if (SvROK(arg)) croak("workerlife: policy must be a WorkerLife::Policy or a spec string");
  if (!SvOK(arg)) WL_XS_CHECK(wl_policy_new(made));
  else WL_XS_CHECK(wl_policy_parse(wl_xs_text_arg(aTHX_ "a policy spec", arg), made));
  SAVEDESTRUCTOR_X(wl_xs_free_policy, *made);
  return *made;
}

/* ---- Pools -------------------------------------------------------------- */

static const char *const wl_xs_build_options[] = {"policy", "slots", "shared", "seed", "manual_clock", "path", NULL};
static const char *const wl_xs_open_options[] = {"policy", "slots", "path", NULL};

static uint32_t wl_xs_slot_count(pTHX_ SV *arg, uint32_t fallback) {
  SvGETMAGIC(arg);
  return SvOK(arg) ? wl_xs_slot(aTHX_ "slots", arg) : fallback;
}

/* How many records tick and events take from the library per call; each
 * calls again until a batch comes back short. */
#define WL_XS_BATCH 64

/* ---- The library's ABI -------------------------------------------------- */

/* The library the module runs with must have the ABI of the header it was
 * compiled against (WL_ABI_VERSION): the structs the XS reads would be
 * misread otherwise. Checked first at BOOT; the message names both
 * versions and the library's file. */
static void wl_xs_check_abi(pTHX_ UV abi, const char *version, const char *path) {
  if (abi != WL_ABI_VERSION)
    croak("workerlife: the library %s (workerlife %s) has ABI version %" UVuf
          ", but this WorkerLife module was built for ABI version %u (workerlife %s):"
          " rebuild WorkerLife against that library, or install the library it was built with",
          path ? path : "libworkerlife", version ? version : "unknown", abi, (unsigned)WL_ABI_VERSION,
          WL_VERSION_STRING);
}

/* The file the library's code was loaded from (the module's own file when
 * the library is linked into it), or NULL. */
static const char *wl_xs_library_file(void) {
  Dl_info info;
  return dladdr((void *)wl_version, &info) && info.dli_fname ? info.dli_fname : NULL;
}

/* ---- The fork counter --------------------------------------------------- */

/* fork()s since load, counted in the child (a plain store: the child runs
 * one thread when its handler runs). It tells the Plack middleware it runs
 * in a new child for the price of an XS call (reading $$ is a getpid()
 * system call). */
static volatile UV wl_xs_forks = 0;

static void wl_xs_after_fork_in_child(void) { wl_xs_forks = wl_xs_forks + 1; }

/* What Worker::request_end returns, as flags (constants at BOOT). */
#define WL_XS_END_LEAVE 1
#define WL_XS_END_SAMPLED 2

/* The event severities (an event's "severity"), as constants
 * WorkerLife::WL_SEVERITY_*, from the header. The result codes a caller may
 * branch on ($WorkerLife::ERROR_CODE) become constants WorkerLife::WL_* at
 * BOOT from the library's own list (wl_result_name), not from a copy. */
#define WL_XS_SEVERITY(name) {#name, name}
static const struct {
  const char *name;
  UV code;
} wl_xs_severities[] = {
    WL_XS_SEVERITY(WL_SEVERITY_INFO),
    WL_XS_SEVERITY(WL_SEVERITY_WARNING),
    WL_XS_SEVERITY(WL_SEVERITY_ERROR),
};

/* Every result code is below this (wl_result_name's word). */
#define WL_XS_RESULTS_BELOW 1000

/* The name tables (@WorkerLife::ACTIONS, ...): number => name, from the
 * library, which holds the one definition of each; undef where a number
 * names nothing. */
static const struct {
  const char *array;
  const char *(*name)(uint32_t);
} wl_xs_tables[] = {
    {"WorkerLife::ACTIONS", wl_action_name},
    {"WorkerLife::REASONS", wl_reason_name},
    {"WorkerLife::POOL_ACTIONS", wl_pool_action_kind_name},
    {"WorkerLife::EVENTS", wl_event_kind_name},
    {"WorkerLife::SHARING", wl_sharing_name},
};

/* The numbers each table is read for, 0 to 63: more than any table uses
 * (reasons, the widest, end at 15). A code past it would be missing from
 * its array, which t/api.t (each table against the header) would catch. */
#define WL_XS_TABLE_SIZE 64

MODULE = WorkerLife  PACKAGE = WorkerLife

PROTOTYPES: DISABLE

BOOT:
  {
    wl_xs_check_abi(aTHX_ wl_abi_version(), wl_version(), wl_xs_library_file());
    MY_CXT_INIT;
    wl_xs_find_stashes(aTHX_ &MY_CXT);
    pthread_atfork(NULL, NULL, wl_xs_after_fork_in_child);
    HV *stash = gv_stashpvs("WorkerLife", GV_ADD);
    for (size_t i = 0; i < sizeof wl_xs_severities / sizeof wl_xs_severities[0]; i++)
      newCONSTSUB(stash, wl_xs_severities[i].name, newSVuv(wl_xs_severities[i].code));
    for (uint32_t code = 0; code < WL_XS_RESULTS_BELOW; code++) {
      const char *name = wl_result_name(code);
      if (name) newCONSTSUB(stash, name, newSVuv(code));
    }
    HV *worker = gv_stashpvs("WorkerLife::Worker", GV_ADD);
    newCONSTSUB(worker, "END_LEAVE", newSVuv(WL_XS_END_LEAVE));
    newCONSTSUB(worker, "END_SAMPLED", newSVuv(WL_XS_END_SAMPLED));
    /* The ticket's last-request bit and the requests a slot times at once,
     * from the header. */
    newCONSTSUB(stash, "TICKET_LAST", newSVuv((UV)WL_TICKET_LAST));
    newCONSTSUB(stash, "TICKETS", newSVuv(WL_TICKETS));
    /* The ABI the module was compiled for (the header's). */
    newCONSTSUB(stash, "ABI_VERSION", newSVuv(WL_ABI_VERSION));
    for (size_t t = 0; t < sizeof wl_xs_tables / sizeof wl_xs_tables[0]; t++) {
      AV *av = get_av(wl_xs_tables[t].array, GV_ADD);
      av_clear(av);
      for (uint32_t n = 0; n < WL_XS_TABLE_SIZE; n++) av_push(av, wl_xs_name(aTHX_ wl_xs_tables[t].name(n)));
    }
  }

void
CLONE(...)
  CODE:
    {
      MY_CXT_CLONE;
      wl_xs_find_stashes(aTHX_ &MY_CXT);
      PERL_UNUSED_VAR(items);
    }

SV *
name_of(code)
    U32 code
  ALIAS:
    action_name = 0
    reason_name = 1
    pool_action_name = 2
    event_name = 3
    sharing_name = 4
    key_name = 5
  CODE:
    switch (ix) {
    case 0: RETVAL = wl_xs_name(aTHX_ wl_action_name(code)); break;
    case 1: RETVAL = wl_xs_name(aTHX_ wl_reason_name(code)); break;
    case 2: RETVAL = wl_xs_name(aTHX_ wl_pool_action_kind_name(code)); break;
    case 3: RETVAL = wl_xs_name(aTHX_ wl_event_kind_name(code)); break;
    case 4: RETVAL = wl_xs_name(aTHX_ wl_sharing_name(code)); break;
    default: RETVAL = wl_xs_name(aTHX_ wl_key_name(code)); break;
    }
  OUTPUT:
    RETVAL

const char *
library_version()
  CODE:
    RETVAL = wl_version();
  OUTPUT:
    RETVAL

SV *
library_path()
  CODE:
    {
      const char *file = wl_xs_library_file();
      RETVAL = file ? newSVpv(file, 0) : newSV(0);
    }
  OUTPUT:
    RETVAL

UV
library_abi_version()
  CODE:
    RETVAL = wl_abi_version();
  OUTPUT:
    RETVAL

void
check_abi(abi, version, path)
    UV abi
    const char *version
    const char *path
  CODE:
    wl_xs_check_abi(aTHX_ abi, version, path);

UV
fork_count()
  CODE:
    RETVAL = wl_xs_forks;
  OUTPUT:
    RETVAL

UV
live_handles()
  CODE:
    {
      uint64_t n = 0;
      WL_XS_CHECK(wl_live_handles(&n));
      RETVAL = n;
    }
  OUTPUT:
    RETVAL

SV *
sample(pid, uss = &PL_sv_undef)
    SV *pid
    SV *uss
  CODE:
    {
      wl_sample s;
      uint32_t p = wl_xs_pid(aTHX_ pid, false);
      WL_XS_CHECK(wl_process_sample(p, SvTRUE(uss), &s));
      RETVAL = wl_xs_sample_hash(aTHX_ &s);
    }
  OUTPUT:
    RETVAL

UV
identity(pid)
    SV *pid
  CODE:
    {
      uint64_t start = 0;
      WL_XS_CHECK(wl_process_identity(wl_xs_pid(aTHX_ pid, false), &start));
      RETVAL = start;
    }
  OUTPUT:
    RETVAL

IV
kill(pid, sig, identity)
    SV *pid
    SV *sig
    SV *identity
  CODE:
    {
      uint32_t p = wl_xs_pid(aTHX_ pid, false);
      uint64_t id = wl_xs_whole(aTHX_ "identity", identity, 0, WL_XS_WHOLE_MAX);
      WL_XS_CHECK(wl_signal(p, id, wl_xs_signal(aTHX_ sig)));
      RETVAL = 1;
    }
  OUTPUT:
    RETVAL

IV
wait_released(...)
  CODE:
    {
      static const char *const known[] = {"pid", "port", "timeout", NULL};
      HV *o = wl_xs_options(aTHX_ &ST(0), items, "wait_released", known);
      SV *t = wl_xs_opt(aTHX_ o, "timeout");
      NV timeout = SvOK(t) ? wl_xs_seconds(aTHX_ "timeout", t) : 30;
      SV *pid = wl_xs_opt(aTHX_ o, "pid"), *port = wl_xs_opt(aTHX_ o, "port");
      uint32_t p = SvOK(pid) ? wl_xs_pid(aTHX_ pid, true) : 0;
      uint16_t n = SvOK(port) ? (uint16_t)wl_xs_whole(aTHX_ "port", port, 0, 65535) : 0;
      uint32_t held = 0;
      WL_XS_CHECK(wl_wait_released(p, n, (uint64_t)(timeout * 1e6), &held));
      RETVAL = 1;
    }
  OUTPUT:
    RETVAL

UV
host_slots(workers, policy, ...)
    SV *workers
    SV *policy
  CODE:
    {
      /* How many slots a pool needs for `workers` workers of a host with
       * the capabilities named after the policy (a WorkerLife::Policy, a
       * spec or undef): the library's rule. */
      ENTER;
      uint32_t n = (uint32_t)wl_xs_whole(aTHX_ "workers", workers, 1, UINT32_MAX);
      wl_policy *made;
      const wl_policy *p = wl_xs_policy_arg(aTHX_ policy, &made);
      uint32_t caps = wl_xs_caps(aTHX_ &ST(2), items - 2);
      uint32_t slots = 0;
      WL_XS_CHECK(wl_host_slots(caps, n, p, &slots));
      LEAVE;
      RETVAL = slots;
    }
  OUTPUT:
    RETVAL

MODULE = WorkerLife  PACKAGE = WorkerLife::Policy

SV *
parse(cls, spec)
    SV *cls
    SV *spec
  CODE:
    {
      wl_policy *p = NULL;
      PERL_UNUSED_VAR(cls);
      WL_XS_CHECK(wl_policy_parse(wl_xs_text_arg(aTHX_ "a policy spec", spec), &p));
      RETVAL = wl_xs_handle_object(aTHX_ p, WL_XS_POLICY);
    }
  OUTPUT:
    RETVAL

SV *
new(cls, ...)
    SV *cls
  CODE:
    {
      /* key => value: numbers are seconds, bytes or counts by the key
       * (a number stays a number), strings are parsed, undef is off. */
      wl_policy *p = NULL;
      PERL_UNUSED_VAR(cls);
      if ((items - 1) % 2) croak("workerlife: policy keys come in name => value pairs");
      WL_XS_CHECK(wl_policy_new(&p));
      RETVAL = wl_xs_handle_object(aTHX_ p, WL_XS_POLICY); /* frees p on a croak */
      sv_2mortal(RETVAL);
      ENTER;
      /* Each key and value read once, here (a tied one is fetched once):
       * sorting and checking then use these plain copies. */
      for (I32 i = 1; i < items; i++) ST(i) = sv_2mortal(newSVsv(ST(i)));
      /* In key order (as a hash walked sorted), a later duplicate last. */
      I32 n = (items - 1) / 2, *order;
      Newx(order, n ? n : 1, I32);
      SAVEFREEPV(order);
      for (I32 a = 0; a < n; a++) {
        I32 i = 1 + 2 * a, b = a;
        for (; b > 0 && sv_cmp(ST(i), ST(order[b - 1])) < 0; b--) order[b] = order[b - 1];
        order[b] = i;
      }
      for (I32 a = 0; a < n; a++) {
        I32 i = order[a];
        SV *key = ST(i), *v = ST(i + 1);
        SvGETMAGIC(v);
        if (SvROK(v)) croak("workerlife: invalid value for %" SVf ": expected a number or a string", SVfARG(key));
        SV *what = sv_2mortal(newSVpvf("the policy key \"%" SVf "\"", SVfARG(key)));
        const char *k = wl_xs_text_arg(aTHX_ SvPV_nolen(what), key);
        if (!SvOK(v)) WL_XS_CHECK(wl_policy_set_number(p, k, 0));
        else if (looks_like_number(v)) WL_XS_CHECK(wl_policy_set_number(p, k, SvNV_nomg(v)));
        else {
          SV *vwhat = sv_2mortal(newSVpvf("the value for %" SVf, SVfARG(key)));
          WL_XS_CHECK(wl_policy_set(p, k, wl_xs_text_arg(aTHX_ SvPV_nolen(vwhat), v)));
        }
      }
      LEAVE;
      SvREFCNT_inc_simple_void_NN(RETVAL);
    }
  OUTPUT:
    RETVAL

SV *
get(self, key)
    wl_policy *self
    SV *key
  CODE:
    {
      uint32_t unit, k = wl_xs_key(aTHX_ key, &unit);
      RETVAL = wl_xs_policy_get(aTHX_ self, k, unit);
    }
  OUTPUT:
    RETVAL

void
keys(...)
  PPCODE:
    {
      /* Every key's name in the library's order; a count in scalar context. */
      IV n = 0;
      while (wl_key_name((uint32_t)n)) n++;
      if (GIMME_V != G_ARRAY) {
        mXPUSHi(n);
      } else {
        EXTEND(SP, n);
        for (uint32_t k = 0; k < (uint32_t)n; k++) mPUSHp(wl_key_name(k), strlen(wl_key_name(k)));
      }
    }

void
check_host(self, name, ...)
    wl_policy *self
    SV *name
  CODE:
    {
      /* Croaks (WL_NOT_FOR_HOST) when the host named `name`, with the
       * capabilities named after it, cannot carry out a rule of this
       * policy: the message names the key, the host and what to do
       * instead. */
      const char *n = wl_xs_text_arg(aTHX_ "the host name", name);
      WL_XS_CHECK(wl_policy_check_host(self, n, wl_xs_caps(aTHX_ &ST(2), items - 2)));
    }

SV *
to_hash(self)
    wl_policy *self
  CODE:
    {
      HV *hv = newHV();
      RETVAL = newRV_noinc((SV *)hv);
      sv_2mortal(RETVAL);
      for (uint32_t k = 0; wl_key_name(k); k++)
        (void)hv_store(hv, wl_key_name(k), (I32)strlen(wl_key_name(k)), wl_xs_policy_get(aTHX_ self, k, wl_key_unit(k)), 0);
      SvREFCNT_inc_simple_void_NN(RETVAL);
    }
  OUTPUT:
    RETVAL

SV *
to_string(self, ...)
    wl_policy *self
  CODE:
    RETVAL = wl_xs_text_of(aTHX_ WL_XS_POLICY_TEXT, self);
  OUTPUT:
    RETVAL

void
DESTROY(self)
    SV *self
  CODE:
    {
      void *h = wl_xs_take_handle(aTHX_ self);
      if (h) wl_policy_free(h);
    }

MODULE = WorkerLife  PACKAGE = WorkerLife::Decision

SV *
action(self, ...)
    SV *self
  ALIAS:
    reason = 1
    value = 2
    limit = 3
    must_exit = 4
    would = 5
  CODE:
    {
      const wl_decision *d = wl_xs_struct(aTHX_ self, WL_XS_DECISION, sizeof(wl_decision));
      if (!d) croak("workerlife: not a decision");
      uint32_t unit = d->reason ? wl_reason_unit(d->reason) : WL_UNIT_COUNT;
      switch (ix) {
      case 0: {
        const char *name = wl_action_name(d->action);
        RETVAL = newSVpv(name ? name : "unknown", 0);
        break;
      }
      case 1: RETVAL = wl_xs_reason(aTHX_ d->reason); break;
      case 2: RETVAL = d->reason ? wl_xs_value(aTHX_ unit, d->value) : newSViv(0); break;
      case 3: RETVAL = d->reason ? wl_xs_value(aTHX_ unit, d->limit) : newSViv(0); break;
      case 4: RETVAL = newSViv(d->action != WL_ACTION_CONTINUE); break;
      /* A rule rehearsed (`enforce`): the worker serves on, and the reason
       * and figures say what would have been done (Rust's is_would). */
      default: RETVAL = newSViv(d->action == WL_ACTION_CONTINUE && d->reason != WL_REASON_NONE); break;
      }
    }
  OUTPUT:
    RETVAL

SV *
to_string(self, ...)
    SV *self
  CODE:
    {
      /* "max_requests: 1000 >= 1000", "request_timeout: 31.5s >= 30s". */
      const wl_decision *d = wl_xs_struct(aTHX_ self, WL_XS_DECISION, sizeof(wl_decision));
      RETVAL = wl_xs_text_of(aTHX_ WL_XS_DECISION_TEXT, d);
    }
  OUTPUT:
    RETVAL

MODULE = WorkerLife  PACKAGE = WorkerLife::Pool

SV *
new(cls, ...)
    SV *cls
  ALIAS:
    create = 1
  CODE:
    {
      /* new: policy, slots, shared (children forked afterwards share it),
       * seed, manual_clock (time moves by advance() only). create: the
       * same in a new file at path, which exec'd processes attach. */
      PERL_UNUSED_VAR(cls);
      ENTER;
      HV *o = wl_xs_options(aTHX_ &ST(1), items - 1, "pool", wl_xs_build_options);
      SV *path = wl_xs_opt(aTHX_ o, "path");
      if (ix == 1 && !SvOK(path)) croak("workerlife: create needs path");
      if (ix == 0 && SvOK(path)) croak("workerlife: a pool at a path is made with create or open");
      wl_policy *made;
      const wl_policy *policy = wl_xs_policy_arg(aTHX_ wl_xs_opt(aTHX_ o, "policy"), &made);
      wl_pool_options opts;
      memset(&opts, 0, sizeof opts);
      opts.path = ix == 1 ? wl_xs_text_arg(aTHX_ "path", path) : NULL;
      SV *seed = wl_xs_opt(aTHX_ o, "seed");
      opts.has_seed = SvOK(seed);
      opts.seed = opts.has_seed ? wl_xs_whole(aTHX_ "seed", seed, 0, WL_XS_WHOLE_MAX) : 0;
      opts.slots = wl_xs_slot_count(aTHX_ wl_xs_opt(aTHX_ o, "slots"), 1);
      opts.sharing = ix == 1 ? WL_SHARING_NAMED : SvTRUE(wl_xs_opt(aTHX_ o, "shared")) ? WL_SHARING_SHARED : WL_SHARING_PRIVATE;
      opts.manual_clock = SvTRUE(wl_xs_opt(aTHX_ o, "manual_clock"));
      wl_pool *pool = NULL;
      WL_XS_CHECK(wl_pool_build(policy, &opts, &pool));
      LEAVE;
      RETVAL = wl_xs_handle_object(aTHX_ pool, WL_XS_POOL);
    }
  OUTPUT:
    RETVAL

SV *
open(cls, ...)
    SV *cls
  CODE:
    {
      /* The pool file the workers of one server share when no master of
       * ours starts them: attached while another process holds it, else
       * (missing, or left by processes now gone) made anew. Linux only. */
      PERL_UNUSED_VAR(cls);
      ENTER;
      HV *o = wl_xs_options(aTHX_ &ST(1), items - 1, "pool", wl_xs_open_options);
      SV *path = wl_xs_opt(aTHX_ o, "path");
      if (!SvOK(path)) croak("workerlife: open needs path");
      const char *p = wl_xs_text_arg(aTHX_ "path", path);
      wl_policy *made;
      const wl_policy *policy = wl_xs_policy_arg(aTHX_ wl_xs_opt(aTHX_ o, "policy"), &made);
      wl_pool *pool = NULL;
      WL_XS_CHECK(wl_pool_open(p, policy, wl_xs_slot_count(aTHX_ wl_xs_opt(aTHX_ o, "slots"), 64), &pool));
      LEAVE;
      RETVAL = wl_xs_handle_object(aTHX_ pool, WL_XS_POOL);
    }
  OUTPUT:
    RETVAL

SV *
attach(cls, path = &PL_sv_undef)
    SV *cls
    SV *path
  CODE:
    {
      PERL_UNUSED_VAR(cls);
      SvGETMAGIC(path);
      if (!SvOK(path)) croak("workerlife: attach needs a path");
      wl_pool *pool = NULL;
      WL_XS_CHECK(wl_pool_attach(wl_xs_text_arg(aTHX_ "path", path), &pool));
      RETVAL = wl_xs_handle_object(aTHX_ pool, WL_XS_POOL);
    }
  OUTPUT:
    RETVAL

void
set_host(self, name, ...)
    wl_pool *self
    SV *name
  CODE:
    {
      /* The host named `name` declares what it can carry out (the
       * capability names after it); a rule of the pool's policy it cannot
       * croaks (WL_NOT_FOR_HOST) and nothing is recorded. */
      const char *n = wl_xs_text_arg(aTHX_ "the host name", name);
      WL_XS_CHECK(wl_pool_set_host(self, n, wl_xs_caps(aTHX_ &ST(2), items - 2)));
    }

SV *
startup_line(self)
    wl_pool *self
  CODE:
    {
      /* The line a host logs once at start (after nothing: it begins
       * "workerlife on for HOST"). */
      char *line = NULL;
      WL_XS_CHECK(wl_pool_startup_line(self, &line));
      RETVAL = wl_xs_owned(aTHX_ line);
    }
  OUTPUT:
    RETVAL

SV *
round_error(self, text)
    wl_pool *self
    SV *text
  CODE:
    {
      /* An error of the host's supervision round: the line to log now, or
       * undef when it was logged already and is only counted. */
      char *line = NULL;
      WL_XS_CHECK(wl_pool_round_error(self, wl_xs_text_arg(aTHX_ "the error text", text), &line));
      RETVAL = wl_xs_owned(aTHX_ line);
    }
  OUTPUT:
    RETVAL

UV
adopt_all(self, pids)
    wl_pool *self
    SV *pids
  CODE:
    {
      /* Adopts the server's own list of worker pids (an array ref): those
       * adopted before are skipped, those gone passed over; how many were
       * taken on now. A pid that is not this process's child croaks
       * (WL_NOT_A_CHILD) once the others are adopted. */
      SvGETMAGIC(pids);
      if (!SvROK(pids) || SvTYPE(SvRV(pids)) != SVt_PVAV)
        croak("workerlife: adopt_all needs an array reference of pids");
      AV *av = (AV *)SvRV(pids);
      SSize_t n = av_top_index(av) + 1;
      uint32_t *list;
      ENTER;
      Newx(list, n ? n : 1, uint32_t);
      SAVEFREEPV(list);
      for (SSize_t i = 0; i < n; i++) {
        SV **e = av_fetch(av, i, 0);
        list[i] = wl_xs_pid(aTHX_ e ? *e : &PL_sv_undef, false);
      }
      size_t adopted = 0;
      WL_XS_CHECK(wl_pool_adopt_all(self, list, (size_t)n, &adopted));
      LEAVE;
      RETVAL = adopted;
    }
  OUTPUT:
    RETVAL

IV
remove_if_last(self)
    wl_pool *self
  CODE:
    {
      bool removed = false;
      WL_XS_CHECK(wl_pool_remove_if_last(self, &removed));
      RETVAL = removed;
    }
  OUTPUT:
    RETVAL

UV
slots(self)
    wl_pool *self
  CODE:
    {
      uint32_t n = 0;
      WL_XS_CHECK(wl_pool_slot_count(self, &n));
      RETVAL = n;
    }
  OUTPUT:
    RETVAL

SV *
policy(self)
    wl_pool *self
  CODE:
    {
      wl_policy *p = NULL;
      WL_XS_CHECK(wl_pool_policy(self, &p));
      RETVAL = wl_xs_handle_object(aTHX_ p, WL_XS_POLICY);
    }
  OUTPUT:
    RETVAL

SV *
claim(self, pid = &PL_sv_undef)
    wl_pool *self
    SV *pid
  ALIAS:
    slot = 1
  CODE:
    {
      /* claim: the slot holding pid (default: this process), claiming a
       * free or stale one. slot: the handle of slot i; a vacant slot gets
       * a generation first, for this process. */
      wl_worker *w = NULL;
      if (ix == 1) {
        WL_XS_CHECK(wl_pool_worker(self, wl_xs_slot(aTHX_ "slot", pid), &w));
      } else {
        SvGETMAGIC(pid);
        uint32_t p = SvOK(pid) ? wl_xs_pid(aTHX_ pid, false) : (uint32_t)getpid();
        WL_XS_CHECK(wl_pool_claim(self, p, &w));
      }
      RETVAL = wl_xs_handle_object(aTHX_ w, WL_XS_WORKER);
    }
  OUTPUT:
    RETVAL

void
spawned(self, slot, pid)
    wl_pool *self
    SV *slot
    SV *pid
  CODE:
    {
      uint32_t s = wl_xs_slot(aTHX_ "slot", slot);
      WL_XS_CHECK(wl_pool_spawned(self, s, wl_xs_pid(aTHX_ pid, false)));
    }

void
ready(self, slot)
    wl_pool *self
    SV *slot
  ALIAS:
    recycle = 1
  CODE:
    {
      /* ready: the worker in slot is ready to serve (what a replacement
       * waits for, max_surge). recycle: a manual recycle. */
      uint32_t s = wl_xs_slot(aTHX_ "slot", slot);
      WL_XS_CHECK(ix == 1 ? wl_pool_recycle(self, s) : wl_pool_ready(self, s));
    }

UV
exiting(self, pid)
    wl_pool *self
    SV *pid
  CODE:
    {
      uint32_t slot = 0;
      WL_XS_CHECK(wl_pool_exiting(self, wl_xs_pid(aTHX_ pid, false), &slot));
      RETVAL = slot;
    }
  OUTPUT:
    RETVAL

void
adopt(self, pid)
    wl_pool *self
    SV *pid
  CODE:
    WL_XS_CHECK(wl_pool_adopt(self, wl_xs_pid(aTHX_ pid, false)));

UV
exited(self, pid, status = &PL_sv_undef)
    wl_pool *self
    SV *pid
    SV *status
  CODE:
    {
      uint32_t slot = 0, p = wl_xs_pid(aTHX_ pid, false);
      SvGETMAGIC(status);
      int32_t st = SvOK(status) ? wl_xs_wait_status(aTHX_ status) : 0;
      WL_XS_CHECK(wl_pool_exited(self, p, st, &slot));
      RETVAL = slot;
    }
  OUTPUT:
    RETVAL

void
exited_slot(self, slot, status = &PL_sv_undef)
    wl_pool *self
    SV *slot
    SV *status
  CODE:
    {
      uint32_t s = wl_xs_slot(aTHX_ "slot", slot);
      SvGETMAGIC(status);
      WL_XS_CHECK(wl_pool_exited_slot(self, s, SvOK(status) ? wl_xs_wait_status(aTHX_ status) : 0));
    }

SV *
decision(self, slot)
    wl_pool *self
    SV *slot
  CODE:
    {
      wl_decision d;
      WL_XS_CHECK(wl_pool_decision(self, wl_xs_slot(aTHX_ "slot", slot), &d));
      RETVAL = wl_xs_decision_object(aTHX_ &d);
    }
  OUTPUT:
    RETVAL

void
tick(self)
    wl_pool *self
  PPCODE:
    {
      /* What the master should do now, as hashes: action (recycle, kill,
       * spawn), slot, pid, identity, generation, reason, not_before
       * (seconds), replaces (a slot, or undef). */
      wl_pool_action batch[WL_XS_BATCH];
      size_t n;
      do {
        n = 0;
        WL_XS_CHECK(wl_pool_tick(self, batch, WL_XS_BATCH, &n));
        EXTEND(SP, (SSize_t)n);
        for (size_t i = 0; i < n; i++) mPUSHs(wl_xs_action_hash(aTHX_ &batch[i]));
      } while (n == WL_XS_BATCH);
    }

void
events(self)
    wl_pool *self
  PPCODE:
    {
      /* The events since the last call, oldest first, as hashes. */
      wl_event batch[WL_XS_BATCH];
      size_t n;
      do {
        n = 0;
        WL_XS_CHECK(wl_pool_events(self, batch, WL_XS_BATCH, &n));
        EXTEND(SP, (SSize_t)n);
        for (size_t i = 0; i < n; i++) mPUSHs(wl_xs_event_hash(aTHX_ &batch[i]));
      } while (n == WL_XS_BATCH);
    }

void
reap_dead(self)
    wl_pool *self
  ALIAS:
    sample = 1
  PPCODE:
    {
      /* reap_dead: the slots retired because their process is gone.
       * sample: { sampled => N, gone => [those slots] } after reading
       * every live worker now. */
      uint32_t cap = 0, sampled = 0;
      size_t n = 0;
      WL_XS_CHECK(wl_pool_slot_count(self, &cap));
      uint32_t *gone;
      ENTER;
      Newx(gone, cap ? cap : 1, uint32_t);
      SAVEFREEPV(gone);
      WL_XS_CHECK(ix == 1 ? wl_pool_sample(self, &sampled, gone, cap, &n) : wl_pool_reap_dead(self, gone, cap, &n));
      if (ix == 1) {
        AV *av = newAV();
        for (size_t i = 0; i < n; i++) av_push(av, newSVuv(gone[i]));
        HV *hv = newHV();
        (void)hv_stores(hv, "sampled", newSVuv(sampled));
        (void)hv_stores(hv, "gone", newRV_noinc((SV *)av));
        mXPUSHs(newRV_noinc((SV *)hv));
      } else {
        EXTEND(SP, (SSize_t)n);
        for (size_t i = 0; i < n; i++) mPUSHu(gone[i]);
      }
      LEAVE;
    }

SV *
stats_json(self, ...)
    wl_pool *self
  ALIAS:
    stats = 1
  CODE:
    {
      /* The stats as JSON (stats: decoded); with vacant => 0, per_slot
       * lists only the occupied slots (the vacant ones are counted in
       * workers.vacant). */
      static const char *const known[] = {"vacant", NULL};
      HV *o = wl_xs_options(aTHX_ &ST(1), items - 1, "stats", known);
      SV *vacant = wl_xs_opt(aTHX_ o, "vacant");
      bool all = !SvOK(vacant) || SvTRUE(vacant);
      SV *json = wl_xs_stats(aTHX_ self, all ? WL_STATS_JSON : WL_STATS_JSON_OCCUPIED);
      if (ix == 0) {
        RETVAL = json;
      } else {
        dSP;
        sv_2mortal(json);
        PUSHMARK(SP);
        XPUSHs(json);
        PUTBACK;
        if (call_pv("JSON::PP::decode_json", G_SCALAR) != 1) croak("workerlife: stats: no JSON decoded");
        SPAGAIN;
        RETVAL = newSVsv(POPs);
        PUTBACK;
      }
    }
  OUTPUT:
    RETVAL

void
report_container(self, ...)
    wl_pool *self
  CODE:
    {
      /* working_set => BYTES (required), limit => BYTES (undef: none),
       * anon, file, oom_kills, pressure_some_avg10: a reading of the
       * container for the next tick (container_memory). */
      static const char *const known[] = {"working_set", "limit", "anon", "file", "oom_kills", "pressure_some_avg10", NULL};
      HV *o = wl_xs_options(aTHX_ &ST(1), items - 1, "container reading", known);
      uint64_t v[5];
      for (int k = 0; k < 5; k++) {
        SV *sv = wl_xs_opt(aTHX_ o, known[k]);
        SvGETMAGIC(sv);
        if (k == 0 && !SvOK(sv)) croak("workerlife: report_container needs working_set");
        v[k] = SvOK(sv) ? wl_xs_whole(aTHX_ known[k], sv, 0, WL_XS_WHOLE_MAX) : WL_NO_READING;
      }
      SV *p = wl_xs_opt(aTHX_ o, "pressure_some_avg10");
      SvGETMAGIC(p);
      wl_container_reading r = {
          .working_set = v[0], .limit = v[1], .anon = v[2], .file = v[3], .oom_kills = v[4],
          .pressure_some_avg10 = SvOK(p) ? wl_xs_percent(aTHX_ "pressure_some_avg10", p) : NAN,
      };
      WL_XS_CHECK(wl_pool_report_container(self, &r));
    }

SV *
read_parent(self)
    wl_pool *self
  CODE:
    {
      /* Reads this process now as the workers' parent, for memory limits
       * relative to it (max_uss=3x): { rss, uss, pss } in bytes, undef
       * where unknown. A master that loads the app before it forks calls
       * it once the app has booted, before the first fork. */
      wl_health h;
      WL_XS_CHECK(wl_pool_read_parent(self, &h));
      HV *hv = newHV();
      (void)hv_stores(hv, "rss", wl_xs_reading(aTHX_ h.rss));
      (void)hv_stores(hv, "uss", wl_xs_reading(aTHX_ h.uss));
      (void)hv_stores(hv, "pss", wl_xs_reading(aTHX_ h.pss));
      RETVAL = newRV_noinc((SV *)hv);
    }
  OUTPUT:
    RETVAL

void
report_parent(self, pid, ...)
    wl_pool *self
    SV *pid
  CODE:
    {
      /* $pid, rss => BYTES, uss => ..., pss => ...: a reading of the
       * workers' parent (another process, or a test's figures); an absent
       * or undef one is unknown and its relative limit waits. Every
       * argument is checked before the call: nothing is kept on a croak. */
      static const char *const known[] = {"rss", "uss", "pss", NULL};
      uint32_t p = wl_xs_pid(aTHX_ pid, false);
      HV *o = wl_xs_options(aTHX_ &ST(2), items - 2, "parent reading", known);
      uint64_t v[3];
      for (int k = 0; k < 3; k++) {
        SV *sv = wl_xs_opt(aTHX_ o, known[k]);
        SvGETMAGIC(sv);
        SV *what = sv_2mortal(newSVpvf("the parent's %s reading", known[k]));
        v[k] = SvOK(sv) ? wl_xs_whole(aTHX_ SvPV_nolen(what), sv, 0, WL_XS_WHOLE_MAX) : WL_NO_READING;
      }
      wl_health h = {.rss = v[0], .uss = v[1], .pss = v[2], .fds = WL_NO_READING};
      WL_XS_CHECK(wl_pool_report_parent(self, p, &h));
    }

SV *
prometheus(self)
    wl_pool *self
  CODE:
    RETVAL = wl_xs_stats(aTHX_ self, WL_STATS_PROMETHEUS);
  OUTPUT:
    RETVAL

void
advance(self, secs)
    wl_pool *self
    SV *secs
  CODE:
    {
      /* Moves a manual clock forward (pools made with manual_clock). */
      NV s = wl_xs_seconds(aTHX_ "advance", secs);
      WL_XS_CHECK(wl_pool_advance(self, (uint64_t)(s * 1e6 + 0.5)));
    }

SV *
now(self)
    wl_pool *self
  ALIAS:
    next_spawn_in = 1
  CODE:
    {
      /* now: the pool's clock in seconds. next_spawn_in: seconds until the
       * next held-back respawn, or undef. */
      uint64_t us = 0;
      bool due = true;
      WL_XS_CHECK(ix == 1 ? wl_pool_next_spawn_in(self, &due, &us) : wl_pool_now_us(self, &us));
      RETVAL = due ? wl_xs_seconds_sv(aTHX_ us) : newSV(0);
    }
  OUTPUT:
    RETVAL

void
DESTROY(self)
    SV *self
  CODE:
    {
      void *h = wl_xs_take_handle(aTHX_ self);
      if (h) wl_pool_free(h);
    }

MODULE = WorkerLife  PACKAGE = WorkerLife::Worker

IV
begin(self)
    wl_worker *self
  ALIAS:
    request_begin = 1
  CODE:
    {
      /* A request starts; true when it should be the last this worker
       * takes (it reaches max_requests): accept nothing new, finish, then
       * leave. request_begin is the same, for the Plack middleware's
       * function-call path. */
      bool last = false;
      WL_XS_CHECK(wl_worker_begin_last(self, &last));
      PERL_UNUSED_VAR(ix);
      RETVAL = last;
    }
  OUTPUT:
    RETVAL

IV
end(self)
    wl_worker *self
  CODE:
    {
      /* True when the worker should leave after this request. */
      bool leave = false;
      WL_XS_CHECK(wl_worker_end(self, &leave));
      RETVAL = leave;
    }
  OUTPUT:
    RETVAL

UV
begin_ticket(self)
    wl_worker *self
  CODE:
    {
      /* A request starts and gets its own ticket, for end_ticket (from any
       * thread): each request in flight is timed on its own. The ticket
       * has WorkerLife::TICKET_LAST set when this should be the worker's
       * last request. */
      uint64_t t = 0;
      WL_XS_CHECK(wl_worker_begin_ticket(self, &t));
      RETVAL = t;
    }
  OUTPUT:
    RETVAL

IV
end_ticket(self, ticket)
    wl_worker *self
    SV *ticket
  CODE:
    {
      /* True when the worker should leave after this request. A ticket
       * this worker does not have in flight croaks (WL_BAD_TICKET) and
       * changes nothing; so does one that is not a whole number, rather
       * than being read as another ticket. */
      uint64_t t = wl_xs_whole(aTHX_ "ticket", ticket, 0, WL_XS_WHOLE_MAX);
      bool leave = false;
      WL_XS_CHECK(wl_worker_end_ticket(self, t, &leave));
      RETVAL = leave;
    }
  OUTPUT:
    RETVAL

void
overdue(self)
    wl_worker *self
  PPCODE:
    {
      /* The tickets of this worker's requests past request_timeout (none
       * when it is off); their count in scalar context. A slot times at
       * most WL_TICKETS requests, so one buffer of that size holds them. */
      uint64_t t[WL_TICKETS];
      size_t n = 0;
      WL_XS_CHECK(wl_worker_overdue(self, t, WL_TICKETS, &n));
      if (n > WL_TICKETS) n = WL_TICKETS;
      if (GIMME_V != G_ARRAY) {
        mXPUSHu(n);
      } else {
        EXTEND(SP, (SSize_t)n);
        for (size_t i = 0; i < n; i++) mPUSHu(t[i]);
      }
    }

IV
request_end(self)
    wl_worker *self
  CODE:
    {
      /* The Plack middleware's end of a request: samples when due (a
       * failed sample keeps the old readings; the request still ends),
       * ends it, and returns END_LEAVE | END_SAMPLED as they apply. */
      bool due = false, leave = false;
      (void)wl_worker_sample_if_due(self, &due);
      WL_XS_CHECK(wl_worker_end(self, &leave));
      RETVAL = (leave ? WL_XS_END_LEAVE : 0) | (due ? WL_XS_END_SAMPLED : 0);
    }
  OUTPUT:
    RETVAL

void
heartbeat(self)
    wl_worker *self
  ALIAS:
    on_event_loop = 1
    exiting = 2
  CODE:
    /* heartbeat: alive (heartbeat_timeout). on_event_loop: the worker
     * serves from an event loop that ends its own requests at
     * request_timeout and beats from that loop, so a request past its
     * timeout kills only once the loop has been still for half of it.
     * exiting: leaving; its recycle permit returns at once. */
    switch (ix) {
    case 0: WL_XS_CHECK(wl_worker_heartbeat(self)); break;
    case 1: WL_XS_CHECK(wl_worker_on_event_loop(self)); break;
    default: WL_XS_CHECK(wl_worker_exiting(self)); break;
    }

void
report_health(self, ...)
    wl_worker *self
  CODE:
    {
      /* rss => BYTES, uss => ..., pss => ..., fds => N; an absent key
       * leaves its reading as it was. */
      static const char *const known[] = {"rss", "uss", "pss", "fds", NULL};
      if ((items - 1) % 2) croak("workerlife: readings come in name => value pairs");
      for (I32 i = 1; i < items; i += 2) {
        bool ok = false;
        for (const char *const *k = known; *k; k++) ok = ok || strcmp(SvPV_nolen(ST(i)), *k) == 0;
        if (!ok) croak("workerlife: unknown reading \"%" SVf "\" (rss, uss, pss, fds)", SVfARG(ST(i)));
      }
      HV *o = wl_xs_options(aTHX_ &ST(1), items - 1, "reading", known);
      uint64_t v[4];
      for (int k = 0; k < 4; k++) {
        SV *sv = wl_xs_opt(aTHX_ o, known[k]);
        SvGETMAGIC(sv);
        SV *what = sv_2mortal(newSVpvf("the %s reading", known[k]));
        v[k] = SvOK(sv) ? wl_xs_whole(aTHX_ SvPV_nolen(what), sv, 0, WL_XS_WHOLE_MAX) : WL_NO_READING;
      }
      wl_health h = {.rss = v[0], .uss = v[1], .pss = v[2], .fds = v[3]};
      WL_XS_CHECK(wl_worker_report_health(self, &h));
    }

SV *
sample_self(self, uss = &PL_sv_undef)
    wl_worker *self
    SV *uss
  CODE:
    {
      /* Samples this process from /proc, reports it, returns the sample. */
      wl_sample s;
      WL_XS_CHECK(wl_worker_sample_self(self, SvTRUE(uss), &s));
      RETVAL = wl_xs_sample_hash(aTHX_ &s);
    }
  OUTPUT:
    RETVAL

void
check(self, ok = &PL_sv_undef)
    wl_worker *self
    SV *ok
  CODE:
    WL_XS_CHECK(wl_worker_check(self, SvTRUE(ok)));

SV *
decision(self)
    wl_worker *self
  ALIAS:
    must_exit = 1
  CODE:
    {
      wl_decision d;
      WL_XS_CHECK(wl_worker_decision(self, &d));
      RETVAL = ix == 1 ? newSViv(d.action != WL_ACTION_CONTINUE) : wl_xs_decision_object(aTHX_ &d);
    }
  OUTPUT:
    RETVAL

UV
requests(self)
    wl_worker *self
  CODE:
    {
      uint64_t n = 0;
      WL_XS_CHECK(wl_worker_requests(self, &n));
      RETVAL = n;
    }
  OUTPUT:
    RETVAL

UV
slot(self)
    wl_worker *self
  CODE:
    {
      uint32_t n = 0;
      WL_XS_CHECK(wl_worker_slot(self, &n));
      RETVAL = n;
    }
  OUTPUT:
    RETVAL

SV *
watchdog(self, ...)
    wl_worker *self
  CODE:
    {
      /* recycle_signal => 'TERM', interval => SECONDS: the worker's
       * watchdog, a native thread (no Perl runs in it) that ends this
       * process with SIGKILL on a kill decision even while Perl is stuck
       * in C code, sends recycle_signal once a recycle is granted, samples
       * every sample_interval and frees the slots of workers gone. It runs
       * until stop(); destroying the object unstopped leaves it running
       * for the life of the process. */
      static const char *const known[] = {"recycle_signal", "interval", NULL};
      HV *o = wl_xs_options(aTHX_ &ST(1), items - 1, "watchdog", known);
      SV *sig = wl_xs_opt(aTHX_ o, "recycle_signal"), *interval = wl_xs_opt(aTHX_ o, "interval");
      int32_t signal = SvOK(sig) ? wl_xs_signal(aTHX_ sig) : 0;
      uint32_t ms = 0;
      if (SvOK(interval)) {
        NV secs = wl_xs_seconds(aTHX_ "interval", interval);
        if (!(secs > 0 && secs <= 60))
          croak("workerlife: interval must be more than 0 and at most 60 seconds, not %" SVf, SVfARG(interval));
        ms = (uint32_t)(secs * 1000 + 0.5);
        if (!ms) ms = 1;
      }
      wl_xs_watchdog wd = {.h = NULL, .pid = getpid()};
      WL_XS_CHECK(wl_worker_watchdog(self, signal, ms, &wd.h));
      RETVAL = wl_xs_bless(aTHX_ wl_xs_owning(aTHX_ newSVpvn((const char *)&wd, sizeof wd)), WL_XS_WATCHDOG);
    }
  OUTPUT:
    RETVAL

void
DESTROY(self)
    SV *self
  CODE:
    {
      void *h = wl_xs_take_handle(aTHX_ self);
      if (h) wl_worker_free(h);
    }

MODULE = WorkerLife  PACKAGE = WorkerLife::Watchdog

void
wake(self)
    SV *self
  CODE:
    {
      /* Look at the slot now rather than at the next interval. */
      wl_xs_watchdog *wd = wl_xs_struct(aTHX_ self, WL_XS_WATCHDOG, sizeof(wl_xs_watchdog));
      if (wd && wd->h) WL_XS_CHECK(wl_watchdog_wake(wd->h));
    }

void
stop(self)
    SV *self
  ALIAS:
    DESTROY = 1
  CODE:
    {
      /* stop: ends the thread (in the process that started it) and frees
       * the handle. DESTROY: lets the thread run on, handle freed. */
      wl_xs_watchdog *wd = SvROK(self) && SvPOK(SvRV(self)) && SvCUR(SvRV(self)) == sizeof(wl_xs_watchdog)
                               ? (wl_xs_watchdog *)SvPVX(SvRV(self)) : NULL;
      if (ix == 0) wd = wl_xs_struct(aTHX_ self, WL_XS_WATCHDOG, sizeof(wl_xs_watchdog));
      wl_watchdog *h = wd ? wd->h : NULL;
      if (h && !wl_xs_owns(aTHX_ SvRV(self))) {
        wd->h = NULL; /* a thread's clone: the owner stops or lets go */
        h = NULL;
      }
      if (h) {
        wd->h = NULL;
        if (ix == 0) wl_watchdog_free(h);
        else wl_watchdog_detach(h);
      }
    }

IV
running(self)
    SV *self
  CODE:
    {
      wl_xs_watchdog *wd = wl_xs_struct(aTHX_ self, WL_XS_WATCHDOG, sizeof(wl_xs_watchdog));
      RETVAL = wd && wd->h && wd->pid == getpid();
    }
  OUTPUT:
    RETVAL
