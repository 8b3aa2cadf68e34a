/* The Perl binding's one native part: every C export of workerlife.h that
 * the binding calls, as WorkerLife::Raw::<name>, plus the hot path of
 * WorkerLife::Worker (begin/end) as XS methods.
 *
 * Calling conventions (what the packages under lib/ pass):
 * - a handle or a buffer address is an unsigned integer (undef: NULL);
 *   buffers come from WorkerLife::Raw::scalar_to_buffer;
 * - an out-parameter is a reference to a scalar, written after the call
 *   (anything else: NULL, which the library refuses with WL_NULL_ARGUMENT);
 * - a string is passed as its bytes (undef: NULL); the Perl side refuses
 *   NUL bytes before it gets here;
 * - results are the library's uint32_t result codes, checked in Perl.
 * WorkerLife::Worker's begin and end are XS methods (one call each, no Perl
 * in between): true when the request should be the last / the worker should
 * leave; a failure croaks through WorkerLife::Raw::check. scalar_to_buffer
 * gives (address, length) of a scalar's string buffer for the calls that
 * read or write a caller's buffer; request_begin and request_end are the
 * Plack middleware's whole per-request work, one call each (begin: 1 if
 * this is the last request; end: samples when due, ends the request, and
 * returns 1 if the worker should leave, plus 2 if a sample was due);
 * library_path the file of the library
 * this module is linked with; forks the number of fork()s this process
 * descends through since the module was loaded (an at-fork handler counts
 * them), which tells the middleware it runs in a new child for the price of
 * an XS call: reading $$ is a getpid() system call. Apart from that counter
 * nothing here keeps state: the library's handles carry it. */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "workerlife.h"

static void *wl_xs_ptr(pTHX_ SV *sv) {
  return SvOK(sv) ? INT2PTR(void *, SvUV(sv)) : NULL;
}

/* The worker handle of a WorkerLife::Worker object ({h => handle}). */
static const wl_worker *wl_xs_worker(pTHX_ SV *self) {
  if (SvROK(self) && SvTYPE(SvRV(self)) == SVt_PVHV) {
    SV **h = hv_fetchs((HV *)SvRV(self), "h", 0);
    if (h && SvOK(*h)) return INT2PTR(const wl_worker *, SvUV(*h));
  }
  return NULL; /* the library says WL_NULL_ARGUMENT, naming it */
}

/* fork()s since load, counted in the child (a plain store: the child runs
 * one thread when its handler runs). */
static volatile UV wl_xs_forks = 0;

static void wl_xs_after_fork_in_child(void) {
  wl_xs_forks = wl_xs_forks + 1;
}

/* Croaks with the library's message, through the Perl side's check(). */
static void wl_xs_fail(pTHX_ U32 rc) {
  dSP;
  ENTER;
  SAVETMPS;
  PUSHMARK(SP);
  XPUSHs(sv_2mortal(newSVuv(rc)));
  PUTBACK;
  call_pv("WorkerLife::Raw::check", G_DISCARD);
  FREETMPS;
  LEAVE;
}

MODULE = WorkerLife  PACKAGE = WorkerLife::Worker

PROTOTYPES: DISABLE

IV
begin(self)
    SV *self
  CODE:
    {
      bool last = false;
      wl_result rc = wl_worker_begin_last(wl_xs_worker(aTHX_ self), &last);
      if (rc != WL_OK) wl_xs_fail(aTHX_ rc);
      RETVAL = last ? 1 : 0;
    }
  OUTPUT:
    RETVAL

IV
end(self)
    SV *self
  CODE:
    {
      bool leave = false;
      wl_result rc = wl_worker_end(wl_xs_worker(aTHX_ self), &leave);
      if (rc != WL_OK) wl_xs_fail(aTHX_ rc);
      RETVAL = leave ? 1 : 0;
    }
  OUTPUT:
    RETVAL

MODULE = WorkerLife  PACKAGE = WorkerLife::Raw

PROTOTYPES: DISABLE

BOOT:
    pthread_atfork(NULL, NULL, wl_xs_after_fork_in_child);

UV
forks()
  CODE:
    RETVAL = wl_xs_forks;
  OUTPUT:
    RETVAL

IV
request_begin(handle)
    SV *handle
  CODE:
    {
      bool last = false;
      wl_result rc = wl_worker_begin_last(wl_xs_ptr(aTHX_ handle), &last);
      if (rc != WL_OK) wl_xs_fail(aTHX_ rc);
      RETVAL = last ? 1 : 0;
    }
  OUTPUT:
    RETVAL

IV
request_end(handle)
    SV *handle
  CODE:
    {
      /* A failed sample keeps the old readings; the request still ends. */
      bool due = false, leave = false;
      wl_worker_sample_if_due(wl_xs_ptr(aTHX_ handle), &due);
      wl_result rc = wl_worker_end(wl_xs_ptr(aTHX_ handle), &leave);
      if (rc != WL_OK) wl_xs_fail(aTHX_ rc);
      RETVAL = (leave ? 1 : 0) | (due ? 2 : 0);
    }
  OUTPUT:
    RETVAL

SV *
library_path()
  CODE:
    {
      Dl_info info;
      RETVAL = dladdr((void *)wl_version, &info) && info.dli_fname ? newSVpv(info.dli_fname, 0)
                                                                  : &PL_sv_undef;
    }
  OUTPUT:
    RETVAL

void
scalar_to_buffer(sv)
    SV *sv
  PPCODE:
    {
      STRLEN len;
      char *p = SvPV_force(sv, len);
      EXTEND(SP, 2);
      mPUSHu(PTR2UV(p));
      mPUSHu((UV)len);
    }

SV *
key_name(a0)
    SV *a0
  CODE:
    {
        const char *s = wl_key_name((uint32_t)SvUV(a0));
        RETVAL = s ? newSVpv(s, 0) : &PL_sv_undef;
    }
  OUTPUT:
    RETVAL

U32
key_unit(a0)
    SV *a0
  CODE:
    {
        RETVAL = wl_key_unit((uint32_t)SvUV(a0));
    }
  OUTPUT:
    RETVAL

U32
last_error(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        size_t t2 = SvROK(a2) && SvOK(SvRV(a2)) ? (size_t)SvUV(SvRV(a2)) : 0;
        RETVAL = wl_last_error_message(wl_xs_ptr(aTHX_ a0), (size_t)SvUV(a1), (SvROK(a2) ? &t2 : NULL));
        if (SvROK(a2)) sv_setuv(SvRV(a2), (UV)t2);
    }
  OUTPUT:
    RETVAL

SV *
reason_name(a0)
    SV *a0
  CODE:
    {
        const char *s = wl_reason_name((uint32_t)SvUV(a0));
        RETVAL = s ? newSVpv(s, 0) : &PL_sv_undef;
    }
  OUTPUT:
    RETVAL

U32
reason_unit(a0)
    SV *a0
  CODE:
    {
        RETVAL = wl_reason_unit((uint32_t)SvUV(a0));
    }
  OUTPUT:
    RETVAL

U32
result_text(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        size_t t3 = SvROK(a3) && SvOK(SvRV(a3)) ? (size_t)SvUV(SvRV(a3)) : 0;
        RETVAL = wl_result_text((uint32_t)SvUV(a0), wl_xs_ptr(aTHX_ a1), (size_t)SvUV(a2), (SvROK(a3) ? &t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), (UV)t3);
    }
  OUTPUT:
    RETVAL

SV *
wl_action_name(a0)
    SV *a0
  CODE:
    {
        const char *s = wl_action_name((uint32_t)SvUV(a0));
        RETVAL = s ? newSVpv(s, 0) : &PL_sv_undef;
    }
  OUTPUT:
    RETVAL

U32
wl_decision_text(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        size_t t3 = SvROK(a3) && SvOK(SvRV(a3)) ? (size_t)SvUV(SvRV(a3)) : 0;
        RETVAL = wl_decision_text(wl_xs_ptr(aTHX_ a0), wl_xs_ptr(aTHX_ a1), (size_t)SvUV(a2), (SvROK(a3) ? &t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), (UV)t3);
    }
  OUTPUT:
    RETVAL

SV *
wl_event_kind_name(a0)
    SV *a0
  CODE:
    {
        const char *s = wl_event_kind_name((uint32_t)SvUV(a0));
        RETVAL = s ? newSVpv(s, 0) : &PL_sv_undef;
    }
  OUTPUT:
    RETVAL

U32
wl_live_handles(a0)
    SV *a0
  CODE:
    {
        uint64_t t0 = SvROK(a0) && SvOK(SvRV(a0)) ? (uint64_t)SvUV(SvRV(a0)) : 0;
        RETVAL = wl_live_handles((SvROK(a0) ? &t0 : NULL));
        if (SvROK(a0)) sv_setuv(SvRV(a0), (UV)t0);
    }
  OUTPUT:
    RETVAL

U32
wl_policy_free(a0)
    SV *a0
  CODE:
    {
        RETVAL = wl_policy_free(wl_xs_ptr(aTHX_ a0));
    }
  OUTPUT:
    RETVAL

U32
wl_policy_get_raw(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        uint64_t t2 = SvROK(a2) && SvOK(SvRV(a2)) ? (uint64_t)SvUV(SvRV(a2)) : 0;
        RETVAL = wl_policy_get_raw(wl_xs_ptr(aTHX_ a0), (uint32_t)SvUV(a1), (SvROK(a2) ? &t2 : NULL));
        if (SvROK(a2)) sv_setuv(SvRV(a2), (UV)t2);
    }
  OUTPUT:
    RETVAL

U32
wl_policy_new(a0)
    SV *a0
  CODE:
    {
        void *t0 = NULL;
        RETVAL = wl_policy_new((SvROK(a0) ? (void *)&t0 : NULL));
        if (SvROK(a0)) sv_setuv(SvRV(a0), PTR2UV(t0));
    }
  OUTPUT:
    RETVAL

U32
wl_policy_parse(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        void *t1 = NULL;
        RETVAL = wl_policy_parse((SvOK(a0) ? SvPV_nolen(a0) : NULL), (SvROK(a1) ? (void *)&t1 : NULL));
        if (SvROK(a1)) sv_setuv(SvRV(a1), PTR2UV(t1));
    }
  OUTPUT:
    RETVAL

U32
wl_policy_set(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        RETVAL = wl_policy_set(wl_xs_ptr(aTHX_ a0), (SvOK(a1) ? SvPV_nolen(a1) : NULL), (SvOK(a2) ? SvPV_nolen(a2) : NULL));
    }
  OUTPUT:
    RETVAL

U32
wl_policy_set_number(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        RETVAL = wl_policy_set_number(wl_xs_ptr(aTHX_ a0), (SvOK(a1) ? SvPV_nolen(a1) : NULL), SvNV(a2));
    }
  OUTPUT:
    RETVAL

U32
wl_policy_to_string(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        size_t t3 = SvROK(a3) && SvOK(SvRV(a3)) ? (size_t)SvUV(SvRV(a3)) : 0;
        RETVAL = wl_policy_to_string(wl_xs_ptr(aTHX_ a0), wl_xs_ptr(aTHX_ a1), (size_t)SvUV(a2), (SvROK(a3) ? &t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), (UV)t3);
    }
  OUTPUT:
    RETVAL

SV *
wl_pool_action_kind_name(a0)
    SV *a0
  CODE:
    {
        const char *s = wl_pool_action_kind_name((uint32_t)SvUV(a0));
        RETVAL = s ? newSVpv(s, 0) : &PL_sv_undef;
    }
  OUTPUT:
    RETVAL

U32
wl_pool_adopt(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        RETVAL = wl_pool_adopt(wl_xs_ptr(aTHX_ a0), (uint32_t)SvUV(a1));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_advance(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        RETVAL = wl_pool_advance(wl_xs_ptr(aTHX_ a0), (uint64_t)SvUV(a1));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_attach(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        void *t1 = NULL;
        RETVAL = wl_pool_attach((SvOK(a0) ? SvPV_nolen(a0) : NULL), (SvROK(a1) ? (void *)&t1 : NULL));
        if (SvROK(a1)) sv_setuv(SvRV(a1), PTR2UV(t1));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_build(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        void *t2 = NULL;
        RETVAL = wl_pool_build(wl_xs_ptr(aTHX_ a0), wl_xs_ptr(aTHX_ a1), (SvROK(a2) ? (void *)&t2 : NULL));
        if (SvROK(a2)) sv_setuv(SvRV(a2), PTR2UV(t2));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_claim(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        void *t2 = NULL;
        RETVAL = wl_pool_claim(wl_xs_ptr(aTHX_ a0), (uint32_t)SvUV(a1), (SvROK(a2) ? (void *)&t2 : NULL));
        if (SvROK(a2)) sv_setuv(SvRV(a2), PTR2UV(t2));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_decision(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        RETVAL = wl_pool_decision(wl_xs_ptr(aTHX_ a0), (uint32_t)SvUV(a1), wl_xs_ptr(aTHX_ a2));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_events(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        size_t t3 = SvROK(a3) && SvOK(SvRV(a3)) ? (size_t)SvUV(SvRV(a3)) : 0;
        RETVAL = wl_pool_events(wl_xs_ptr(aTHX_ a0), wl_xs_ptr(aTHX_ a1), (size_t)SvUV(a2), (SvROK(a3) ? &t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), (UV)t3);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_exited(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        uint32_t t3 = SvROK(a3) && SvOK(SvRV(a3)) ? (uint32_t)SvUV(SvRV(a3)) : 0;
        RETVAL = wl_pool_exited(wl_xs_ptr(aTHX_ a0), (uint32_t)SvUV(a1), (int32_t)SvIV(a2), (SvROK(a3) ? &t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), (UV)t3);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_exited_slot(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        RETVAL = wl_pool_exited_slot(wl_xs_ptr(aTHX_ a0), (uint32_t)SvUV(a1), (int32_t)SvIV(a2));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_exiting(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        uint32_t t2 = SvROK(a2) && SvOK(SvRV(a2)) ? (uint32_t)SvUV(SvRV(a2)) : 0;
        RETVAL = wl_pool_exiting(wl_xs_ptr(aTHX_ a0), (uint32_t)SvUV(a1), (SvROK(a2) ? &t2 : NULL));
        if (SvROK(a2)) sv_setuv(SvRV(a2), (UV)t2);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_free(a0)
    SV *a0
  CODE:
    {
        RETVAL = wl_pool_free(wl_xs_ptr(aTHX_ a0));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_next_spawn_in(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        bool t1 = SvROK(a1) && SvTRUE(SvRV(a1));
        uint64_t t2 = SvROK(a2) && SvOK(SvRV(a2)) ? (uint64_t)SvUV(SvRV(a2)) : 0;
        RETVAL = wl_pool_next_spawn_in(wl_xs_ptr(aTHX_ a0), (SvROK(a1) ? &t1 : NULL), (SvROK(a2) ? &t2 : NULL));
        if (SvROK(a1)) sv_setiv(SvRV(a1), t1 ? 1 : 0);
        if (SvROK(a2)) sv_setuv(SvRV(a2), (UV)t2);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_now_us(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        uint64_t t1 = SvROK(a1) && SvOK(SvRV(a1)) ? (uint64_t)SvUV(SvRV(a1)) : 0;
        RETVAL = wl_pool_now_us(wl_xs_ptr(aTHX_ a0), (SvROK(a1) ? &t1 : NULL));
        if (SvROK(a1)) sv_setuv(SvRV(a1), (UV)t1);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_open(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        void *t3 = NULL;
        RETVAL = wl_pool_open((SvOK(a0) ? SvPV_nolen(a0) : NULL), wl_xs_ptr(aTHX_ a1), (uint32_t)SvUV(a2), (SvROK(a3) ? (void *)&t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), PTR2UV(t3));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_policy(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        void *t1 = NULL;
        RETVAL = wl_pool_policy(wl_xs_ptr(aTHX_ a0), (SvROK(a1) ? (void *)&t1 : NULL));
        if (SvROK(a1)) sv_setuv(SvRV(a1), PTR2UV(t1));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_prometheus(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        size_t t3 = SvROK(a3) && SvOK(SvRV(a3)) ? (size_t)SvUV(SvRV(a3)) : 0;
        RETVAL = wl_pool_prometheus(wl_xs_ptr(aTHX_ a0), wl_xs_ptr(aTHX_ a1), (size_t)SvUV(a2), (SvROK(a3) ? &t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), (UV)t3);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_ready(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        RETVAL = wl_pool_ready(wl_xs_ptr(aTHX_ a0), (uint32_t)SvUV(a1));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_reap_dead(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        size_t t3 = SvROK(a3) && SvOK(SvRV(a3)) ? (size_t)SvUV(SvRV(a3)) : 0;
        RETVAL = wl_pool_reap_dead(wl_xs_ptr(aTHX_ a0), wl_xs_ptr(aTHX_ a1), (size_t)SvUV(a2), (SvROK(a3) ? &t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), (UV)t3);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_recycle(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        RETVAL = wl_pool_recycle(wl_xs_ptr(aTHX_ a0), (uint32_t)SvUV(a1));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_remove_if_last(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        bool t1 = SvROK(a1) && SvTRUE(SvRV(a1));
        RETVAL = wl_pool_remove_if_last(wl_xs_ptr(aTHX_ a0), (SvROK(a1) ? &t1 : NULL));
        if (SvROK(a1)) sv_setiv(SvRV(a1), t1 ? 1 : 0);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_sample(a0, a1, a2, a3, a4)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
    SV *a4
  CODE:
    {
        uint32_t t1 = SvROK(a1) && SvOK(SvRV(a1)) ? (uint32_t)SvUV(SvRV(a1)) : 0;
        size_t t4 = SvROK(a4) && SvOK(SvRV(a4)) ? (size_t)SvUV(SvRV(a4)) : 0;
        RETVAL = wl_pool_sample(wl_xs_ptr(aTHX_ a0), (SvROK(a1) ? &t1 : NULL), wl_xs_ptr(aTHX_ a2), (size_t)SvUV(a3), (SvROK(a4) ? &t4 : NULL));
        if (SvROK(a1)) sv_setuv(SvRV(a1), (UV)t1);
        if (SvROK(a4)) sv_setuv(SvRV(a4), (UV)t4);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_slot_count(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        uint32_t t1 = SvROK(a1) && SvOK(SvRV(a1)) ? (uint32_t)SvUV(SvRV(a1)) : 0;
        RETVAL = wl_pool_slot_count(wl_xs_ptr(aTHX_ a0), (SvROK(a1) ? &t1 : NULL));
        if (SvROK(a1)) sv_setuv(SvRV(a1), (UV)t1);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_spawned(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        RETVAL = wl_pool_spawned(wl_xs_ptr(aTHX_ a0), (uint32_t)SvUV(a1), (uint32_t)SvUV(a2));
    }
  OUTPUT:
    RETVAL

U32
wl_pool_stats_json(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        size_t t3 = SvROK(a3) && SvOK(SvRV(a3)) ? (size_t)SvUV(SvRV(a3)) : 0;
        RETVAL = wl_pool_stats_json(wl_xs_ptr(aTHX_ a0), wl_xs_ptr(aTHX_ a1), (size_t)SvUV(a2), (SvROK(a3) ? &t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), (UV)t3);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_stats_json_occupied(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        size_t t3 = SvROK(a3) && SvOK(SvRV(a3)) ? (size_t)SvUV(SvRV(a3)) : 0;
        RETVAL = wl_pool_stats_json_occupied(wl_xs_ptr(aTHX_ a0), wl_xs_ptr(aTHX_ a1), (size_t)SvUV(a2), (SvROK(a3) ? &t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), (UV)t3);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_tick(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        size_t t3 = SvROK(a3) && SvOK(SvRV(a3)) ? (size_t)SvUV(SvRV(a3)) : 0;
        RETVAL = wl_pool_tick(wl_xs_ptr(aTHX_ a0), wl_xs_ptr(aTHX_ a1), (size_t)SvUV(a2), (SvROK(a3) ? &t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), (UV)t3);
    }
  OUTPUT:
    RETVAL

U32
wl_pool_worker(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        void *t2 = NULL;
        RETVAL = wl_pool_worker(wl_xs_ptr(aTHX_ a0), (uint32_t)SvUV(a1), (SvROK(a2) ? (void *)&t2 : NULL));
        if (SvROK(a2)) sv_setuv(SvRV(a2), PTR2UV(t2));
    }
  OUTPUT:
    RETVAL

U32
wl_process_identity(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        uint64_t t1 = SvROK(a1) && SvOK(SvRV(a1)) ? (uint64_t)SvUV(SvRV(a1)) : 0;
        RETVAL = wl_process_identity((uint32_t)SvUV(a0), (SvROK(a1) ? &t1 : NULL));
        if (SvROK(a1)) sv_setuv(SvRV(a1), (UV)t1);
    }
  OUTPUT:
    RETVAL

U32
wl_process_sample(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        RETVAL = wl_process_sample((uint32_t)SvUV(a0), (bool)SvTRUE(a1), wl_xs_ptr(aTHX_ a2));
    }
  OUTPUT:
    RETVAL

SV *
wl_sharing_name(a0)
    SV *a0
  CODE:
    {
        const char *s = wl_sharing_name((uint32_t)SvUV(a0));
        RETVAL = s ? newSVpv(s, 0) : &PL_sv_undef;
    }
  OUTPUT:
    RETVAL

U32
wl_signal(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        RETVAL = wl_signal((uint32_t)SvUV(a0), (uint64_t)SvUV(a1), (int32_t)SvIV(a2));
    }
  OUTPUT:
    RETVAL

SV *
wl_version()
  CODE:
    {
        const char *s = wl_version();
        RETVAL = s ? newSVpv(s, 0) : &PL_sv_undef;
    }
  OUTPUT:
    RETVAL

U32
wl_wait_released(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        uint32_t t3 = SvROK(a3) && SvOK(SvRV(a3)) ? (uint32_t)SvUV(SvRV(a3)) : 0;
        RETVAL = wl_wait_released((uint32_t)SvUV(a0), (uint16_t)SvUV(a1), (uint64_t)SvUV(a2), (SvROK(a3) ? &t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), (UV)t3);
    }
  OUTPUT:
    RETVAL

U32
wl_watchdog_detach(a0)
    SV *a0
  CODE:
    {
        RETVAL = wl_watchdog_detach(wl_xs_ptr(aTHX_ a0));
    }
  OUTPUT:
    RETVAL

U32
wl_watchdog_free(a0)
    SV *a0
  CODE:
    {
        RETVAL = wl_watchdog_free(wl_xs_ptr(aTHX_ a0));
    }
  OUTPUT:
    RETVAL

U32
wl_watchdog_wake(a0)
    SV *a0
  CODE:
    {
        RETVAL = wl_watchdog_wake(wl_xs_ptr(aTHX_ a0));
    }
  OUTPUT:
    RETVAL

U32
wl_worker_begin_last(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        bool t1 = SvROK(a1) && SvTRUE(SvRV(a1));
        RETVAL = wl_worker_begin_last(wl_xs_ptr(aTHX_ a0), (SvROK(a1) ? &t1 : NULL));
        if (SvROK(a1)) sv_setiv(SvRV(a1), t1 ? 1 : 0);
    }
  OUTPUT:
    RETVAL

U32
wl_worker_check(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        RETVAL = wl_worker_check(wl_xs_ptr(aTHX_ a0), (bool)SvTRUE(a1));
    }
  OUTPUT:
    RETVAL

U32
wl_worker_decision(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        RETVAL = wl_worker_decision(wl_xs_ptr(aTHX_ a0), wl_xs_ptr(aTHX_ a1));
    }
  OUTPUT:
    RETVAL

U32
wl_worker_end(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        bool t1 = SvROK(a1) && SvTRUE(SvRV(a1));
        RETVAL = wl_worker_end(wl_xs_ptr(aTHX_ a0), (SvROK(a1) ? &t1 : NULL));
        if (SvROK(a1)) sv_setiv(SvRV(a1), t1 ? 1 : 0);
    }
  OUTPUT:
    RETVAL

U32
wl_worker_exiting(a0)
    SV *a0
  CODE:
    {
        RETVAL = wl_worker_exiting(wl_xs_ptr(aTHX_ a0));
    }
  OUTPUT:
    RETVAL

U32
wl_worker_free(a0)
    SV *a0
  CODE:
    {
        RETVAL = wl_worker_free(wl_xs_ptr(aTHX_ a0));
    }
  OUTPUT:
    RETVAL

U32
wl_worker_heartbeat(a0)
    SV *a0
  CODE:
    {
        RETVAL = wl_worker_heartbeat(wl_xs_ptr(aTHX_ a0));
    }
  OUTPUT:
    RETVAL

U32
wl_worker_on_event_loop(a0)
    SV *a0
  CODE:
    {
        RETVAL = wl_worker_on_event_loop(wl_xs_ptr(aTHX_ a0));
    }
  OUTPUT:
    RETVAL

U32
wl_worker_report_health(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        RETVAL = wl_worker_report_health(wl_xs_ptr(aTHX_ a0), wl_xs_ptr(aTHX_ a1));
    }
  OUTPUT:
    RETVAL

U32
wl_worker_requests(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        uint64_t t1 = SvROK(a1) && SvOK(SvRV(a1)) ? (uint64_t)SvUV(SvRV(a1)) : 0;
        RETVAL = wl_worker_requests(wl_xs_ptr(aTHX_ a0), (SvROK(a1) ? &t1 : NULL));
        if (SvROK(a1)) sv_setuv(SvRV(a1), (UV)t1);
    }
  OUTPUT:
    RETVAL

U32
wl_worker_sample_if_due(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        bool t1 = SvROK(a1) && SvTRUE(SvRV(a1));
        RETVAL = wl_worker_sample_if_due(wl_xs_ptr(aTHX_ a0), (SvROK(a1) ? &t1 : NULL));
        if (SvROK(a1)) sv_setiv(SvRV(a1), t1 ? 1 : 0);
    }
  OUTPUT:
    RETVAL

U32
wl_worker_sample_self(a0, a1, a2)
    SV *a0
    SV *a1
    SV *a2
  CODE:
    {
        RETVAL = wl_worker_sample_self(wl_xs_ptr(aTHX_ a0), (bool)SvTRUE(a1), wl_xs_ptr(aTHX_ a2));
    }
  OUTPUT:
    RETVAL

U32
wl_worker_slot(a0, a1)
    SV *a0
    SV *a1
  CODE:
    {
        uint32_t t1 = SvROK(a1) && SvOK(SvRV(a1)) ? (uint32_t)SvUV(SvRV(a1)) : 0;
        RETVAL = wl_worker_slot(wl_xs_ptr(aTHX_ a0), (SvROK(a1) ? &t1 : NULL));
        if (SvROK(a1)) sv_setuv(SvRV(a1), (UV)t1);
    }
  OUTPUT:
    RETVAL

U32
wl_worker_watchdog(a0, a1, a2, a3)
    SV *a0
    SV *a1
    SV *a2
    SV *a3
  CODE:
    {
        void *t3 = NULL;
        RETVAL = wl_worker_watchdog(wl_xs_ptr(aTHX_ a0), (int32_t)SvIV(a1), (uint32_t)SvUV(a2), (SvROK(a3) ? (void *)&t3 : NULL));
        if (SvROK(a3)) sv_setuv(SvRV(a3), PTR2UV(t3));
    }
  OUTPUT:
    RETVAL
