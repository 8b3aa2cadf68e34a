'use strict';
// The shared test vectors (tests/vectors/*.json, and WORKERLIFE_VECTORS'
// directory when set) through the Node binding: the same cases the Rust,
// C, Python, Perl and Ruby suites run.

const fs = require('node:fs');
const path = require('node:path');
const wl = require('../lib');

const REPO = path.resolve(__dirname, '..', '..', '..');

function vectorFiles() {
  const dirs = [path.join(REPO, 'tests', 'vectors')];
  if (process.env.WORKERLIFE_VECTORS) dirs.push(process.env.WORKERLIFE_VECTORS);
  const files = [];
  for (const d of dirs) {
    for (const f of fs.readdirSync(d).filter((n) => n.endsWith('.json')).sort()) files.push(path.join(d, f));
  }
  return files;
}

/** [`file: name`, case] for every case. */
function cases() {
  const all = [];
  for (const f of vectorFiles()) {
    for (const c of JSON.parse(fs.readFileSync(f, 'utf8'))) all.push([`${path.basename(f)}: ${c.name ?? '<unnamed>'}`, c]);
  }
  return all;
}

const GROWTH_FIELDS = ['bytes_per_request', 'bytes_per_second', 'seconds_to_limit', 'requests_to_limit', 'samples'];

// Equal to 1e-9 relative (the fit is computed in f64 the same way everywhere), or both null.
function sameNumber(got, want) {
  if (got === null || want === null || got === undefined || want === undefined) return (got ?? null) === (want ?? null);
  return Math.abs(got - want) <= 1e-9 * Math.max(Math.abs(want), 1);
}

// A step's pid: a number, or "self" for this process (alive, for cases
// that need a live worker).
function pidOf(step) {
  return step.pid === 'self' ? process.pid : step.pid;
}

function runCase(c) {
  const slots = c.slots ?? 1;
  const pool = new wl.Pool(c.policy ?? '', { slots, seed: c.seed ?? 0, manualClock: true });
  const handles = new Map();
  const tickets = new Map(); // by the name the vector gave them
  const worker = (slot) => {
    if (!handles.has(slot)) handles.set(slot, pool.worker(slot));
    return handles.get(slot);
  };
  try {
    const steps = c.steps;
    if (slots === 1 && !steps.some((s) => s.op === 'spawned')) pool.spawned(0, process.pid);
    steps.forEach((step, i) => {
      const slot = step.slot ?? 0;
      const fail = (msg) => new Error(`step ${i} (${JSON.stringify(step)}): ${msg}`);
      switch (step.op) {
        case 'request':
          for (let n = 0; n < (step.n ?? 1); n++) { worker(slot).begin(); worker(slot).end(); }
          break;
        case 'begin': {
          if (!('ticket' in step)) { worker(slot).begin(); break; }
          const t = worker(slot).beginTicket();
          if ('last' in step && (t >= wl.TICKET_LAST) !== step.last) throw fail(`last is ${!step.last}, expected ${step.last}`);
          tickets.set(step.ticket, t);
          break;
        }
        case 'end': {
          if (!('ticket' in step)) { worker(slot).end(); break; }
          // A name never issued is the number the step gives.
          const t = tickets.has(step.ticket) ? tickets.get(step.ticket) : step.raw;
          if (t === undefined) throw fail(`no ticket ${JSON.stringify(step.ticket)}`);
          let error = null;
          try {
            worker(slot).endTicket(t);
          } catch (e) {
            if (!(e instanceof wl.WorkerLifeError)) throw e;
            error = e;
          }
          if (step.refused === true && !error) throw fail('ended, expected refused');
          if (step.refused !== true && error) throw fail(error.message);
          break;
        }
        case 'overdue': {
          if (!Array.isArray(step.expect)) throw fail('overdue needs expect');
          const got = worker(slot).overdue();
          const names = [...tickets].filter(([, t]) => got.includes(t % wl.TICKET_LAST)).map(([n]) => n).sort();
          const want = [...step.expect].sort();
          if (JSON.stringify(names) !== JSON.stringify(want) || got.length !== want.length) {
            throw fail(`overdue ${JSON.stringify(names)} (${got.length} tickets), expected ${JSON.stringify(want)}`);
          }
          break;
        }
        case 'advance': pool.advance(Math.round(step.secs * 1e6) / 1e6); break;
        case 'health':
          worker(slot).reportHealth({ rss: step.rss, uss: step.uss, pss: step.pss, fds: step.fds });
          break;
        case 'container': pool.reportContainer({ workingSet: step.working_set, limit: step.limit }); break;
        case 'heartbeat': worker(slot).heartbeat(); break;
        case 'on_event_loop': worker(slot).onEventLoop(); break;
        case 'check': worker(slot).check(step.ok); break;
        case 'recycle': pool.recycle(slot); break;
        case 'exiting': worker(slot).exiting(); break;
        case 'ready': pool.ready(slot); break;
        case 'spawned': pool.spawned(slot, pidOf(step)); break;
        case 'claim': {
          const w = pool.claim(pidOf(step));
          const claimed = w.slot;
          w.close();
          if ('slot' in step && claimed !== slot) throw fail(`claimed slot ${claimed}, expected ${slot}`);
          break;
        }
        case 'exited': pool.exitedSlot(slot, step.status ?? 0); break;
        case 'expect': {
          const d = pool.decision(slot);
          if (d.action !== step.action) throw fail(`action is ${d.action} (reason ${d.reason}), expected ${step.action}`);
          if ('reason' in step && d.reason !== step.reason) throw fail(`reason is ${d.reason}, expected ${step.reason}`);
          // A continue with a reason is a rule rehearsed (`enforce`): would, and never mustExit.
          const would = step.action === 'continue' && 'reason' in step;
          if ('reason' in step && d.would !== would) throw fail(`would is ${d.would}, expected ${would} (${d.text})`);
          if (d.mustExit !== (step.action !== 'continue')) throw fail(`mustExit is ${d.mustExit} (${d.text})`);
          break;
        }
        case 'tick': {
          const got = pool.tick().map((a) => [a.action, a.slot, a.reason, a.replaces]);
          const left = [...got];
          for (const w of step.expect) {
            const k = left.findIndex((g) => g[0] === w.action && g[1] === (w.slot ?? 0)
              && (!('reason' in w) || g[2] === w.reason) && (!('replaces' in w) || g[3] === w.replaces));
            if (k < 0) throw fail(`tick returned ${JSON.stringify(got)}, missing ${JSON.stringify(w)}`);
            left.splice(k, 1);
          }
          if (left.length) throw fail(`tick returned ${JSON.stringify(got)}, unexpected ${JSON.stringify(left)}`);
          break;
        }
        case 'growth': {
          const g = pool.stats().per_slot[slot].growth;
          if (step.none) {
            if (g !== null) throw fail(`growth is ${JSON.stringify(g)}, expected none`);
          } else {
            for (const key of GROWTH_FIELDS) {
              if (key in step && !sameNumber(g[key], step[key])) throw fail(`growth ${key} is ${g[key]}, expected ${step[key]}`);
            }
          }
          break;
        }
        case 'next_spawn': {
          const s = pool.nextSpawnIn();
          const got = s === null ? null : Math.round(s * 1e6);
          const want = step.secs === undefined || step.secs === null ? null : Math.round(step.secs * 1e6);
          if (got !== want) throw fail(`next spawn in ${got} µs, expected ${want}`);
          break;
        }
        default:
          throw fail(`unknown op ${JSON.stringify(step.op)}`);
      }
    });
  } finally {
    for (const w of handles.values()) w.close();
    pool.close();
  }
}

module.exports = { cases, runCase, vectorFiles };
