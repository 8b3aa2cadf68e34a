'use strict';
// The npm package: its version is the workspace's, the loader finds the
// package's own library for this platform and says why a library cannot be
// used (not found, no library for this platform, cut short, not a library,
// another ABI, another release), and packaging/build packs what users need
// and nothing else. Each load runs in a node of its own: a load that fails
// leaves nothing half-made in this process.

const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const wl = require('../lib');
const library = require('../lib/library');

const NODE_DIR = path.join(__dirname, '..');
const ROOT = path.join(NODE_DIR, '..', '..');
const REPO_LIB = path.join(ROOT, 'target', 'release', 'libworkerlife.so');
const PACKAGE = JSON.parse(fs.readFileSync(path.join(NODE_DIR, 'package.json'), 'utf8'));

/** The environment of this process without WORKERLIFE_LIB, plus `extra`. */
function env(extra = {}) {
  const e = { ...process.env, ...extra };
  if (!('WORKERLIFE_LIB' in extra)) delete e.WORKERLIFE_LIB;
  return e;
}

/** node -e `code` in `cwd`: { status, stdout, stderr }. */
function node(code, { cwd = NODE_DIR, extra = {} } = {}) {
  return spawnSync(process.execPath, ['-e', code], { cwd, env: env(extra), encoding: 'utf8' });
}

/** `require(what)` in a node of its own: the error's message, or fails the test if it loads. */
function loadError(what, opts) {
  const r = node(`try { require(${JSON.stringify(what)}); } catch (e) { console.log(e.message); process.exit(7); }`, opts);
  assert.strictEqual(r.status, 7, `it loaded: ${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

function tmp(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wl-node-pkg-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * An installed copy of the package in DIR/node_modules/workerlife (koffi
 * linked from this checkout), with `prebuilds` (platform -> file to copy)
 * and package.json's version set to `version`. Returns DIR.
 */
function installedCopy(t, { prebuilds = {}, version = PACKAGE.version } = {}) {
  const dir = tmp(t);
  const pkg = path.join(dir, 'node_modules', 'workerlife');
  fs.mkdirSync(pkg, { recursive: true });
  fs.cpSync(path.join(NODE_DIR, 'lib'), path.join(pkg, 'lib'), { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ ...PACKAGE, version }));
  fs.symlinkSync(path.join(NODE_DIR, 'node_modules', 'koffi'), path.join(dir, 'node_modules', 'koffi'));
  for (const [platform, file] of Object.entries(prebuilds)) {
    fs.mkdirSync(path.join(pkg, 'prebuilds', platform), { recursive: true });
    fs.copyFileSync(file, path.join(pkg, 'prebuilds', platform, library.fileName()));
  }
  return dir;
}

test("package.json's version is the workspace's (Cargo.toml [workspace.package])", () => {
  const cargo = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8');
  const section = cargo.split(/^\[workspace\.package\]$/m)[1].split(/^\[/m)[0];
  const version = section.match(/^version\s*=\s*"([^"]+)"/m)[1];
  assert.strictEqual(PACKAGE.version, version);
  assert.strictEqual(wl.version, PACKAGE.version, "the library's version");
});

test('koffi is pinned to one version, the one package-lock.json holds', () => {
  assert.match(PACKAGE.dependencies.koffi, /^\d+\.\d+\.\d+$/);
  const lock = JSON.parse(fs.readFileSync(path.join(NODE_DIR, 'package-lock.json'), 'utf8'));
  assert.strictEqual(lock.packages['node_modules/koffi'].version, PACKAGE.dependencies.koffi);
});

test('WORKERLIFE_LIB naming a missing file: the file and "not found"', (t) => {
  const file = path.join(tmp(t), 'libworkerlife.so');
  const msg = loadError('./lib', { extra: { WORKERLIFE_LIB: file } });
  assert.match(msg, /cannot load the library \(set WORKERLIFE_LIB\)/);
  assert.ok(msg.includes(`${file} (WORKERLIFE_LIB): not found`), msg);
});

test('WORKERLIFE_LIB naming a library cut short: the file and its size against its headers', (t) => {
  const file = path.join(tmp(t), 'libworkerlife.so');
  const whole = fs.readFileSync(REPO_LIB);
  // Cut anywhere: near the start, in the middle, a byte short. dlopen would
  // map such a file and the process die of SIGBUS touching the missing part.
  for (const size of [4096, Math.floor(whole.length / 2), whole.length - 1]) {
    fs.writeFileSync(file, whole.subarray(0, size));
    const msg = loadError('./lib', { extra: { WORKERLIFE_LIB: file } });
    assert.ok(msg.includes(`${file} (WORKERLIFE_LIB): truncated: ${size} bytes, its ELF headers need `), msg);
  }
});

test("WORKERLIFE_LIB naming garbage: the file and the loader's message", (t) => {
  const dir = tmp(t);
  const short = path.join(dir, 'short.so');
  fs.writeFileSync(short, 'not a library\n');
  assert.match(loadError('./lib', { extra: { WORKERLIFE_LIB: short } }), new RegExp(`${short} \\(WORKERLIFE_LIB\\): Failed to load shared library: file too short`));
  const noise = path.join(dir, 'noise.so');
  fs.writeFileSync(noise, Buffer.alloc(8192, 0x5a));
  assert.match(loadError('./lib', { extra: { WORKERLIFE_LIB: noise } }), new RegExp(`${noise} \\(WORKERLIFE_LIB\\): Failed to load shared library: invalid ELF header`));
});

test('a shared library that is not workerlife: named, and why', () => {
  const msg = loadError('./lib', { extra: { WORKERLIFE_LIB: 'libc.so.6' } });
  assert.match(msg, /libc\.so\.6: not workerlife's library \(Cannot find function 'wl_abi_version'/);
});

test('a library of another ABI: the file and both numbers', (t) => {
  const dir = tmp(t);
  const src = path.join(dir, 'abi99.c');
  const file = path.join(dir, 'libworkerlife.so');
  fs.writeFileSync(src, 'unsigned int wl_abi_version(void) { return 99; }\n');
  const cc = spawnSync('cc', ['-shared', '-fPIC', '-o', file, src], { encoding: 'utf8' });
  assert.strictEqual(cc.status, 0, cc.stderr);
  const msg = loadError('./lib', { extra: { WORKERLIFE_LIB: file } });
  assert.ok(msg.includes(`${file} has ABI version 99, this binding needs ${wl.abiVersion}`), msg);
});

test("an installed package loads its own library for this platform, and WORKERLIFE_LIB overrides it", (t) => {
  const dir = installedCopy(t, { prebuilds: { [library.platformKey()]: REPO_LIB } });
  const own = path.join(dir, 'node_modules', 'workerlife', 'prebuilds', library.platformKey(), library.fileName());
  const show = 'const w = require("workerlife"); console.log(JSON.stringify([w.library, w.version]))';
  let r = node(show, { cwd: dir });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.deepStrictEqual(JSON.parse(r.stdout), [own, PACKAGE.version]);
  r = node(show, { cwd: dir, extra: { WORKERLIFE_LIB: REPO_LIB } });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.deepStrictEqual(JSON.parse(r.stdout), [REPO_LIB, PACKAGE.version]);
});

test("an installed package whose own library is broken says so: never another library instead", (t) => {
  const dir = tmp(t);
  const cut = path.join(dir, 'cut.so');
  fs.writeFileSync(cut, fs.readFileSync(REPO_LIB).subarray(0, 65536));
  const app = installedCopy(t, { prebuilds: { [library.platformKey()]: cut } });
  const own = path.join(app, 'node_modules', 'workerlife', 'prebuilds', library.platformKey(), library.fileName());
  const msg = loadError('workerlife', { cwd: app });
  assert.ok(msg.includes(`${own} (the package): truncated: 65536 bytes`), msg);
});

test('an installed package with no library for this platform: this platform, the ones it holds, what to do', (t) => {
  // Nothing else to fall back on: no checkout around it, and (on this
  // machine) no libworkerlife.so on the loader's paths.
  const app = installedCopy(t, { prebuilds: { 'plan9-mips-gnu': REPO_LIB, 'aix-ppc64': REPO_LIB } });
  const msg = loadError('workerlife', { cwd: app });
  assert.ok(msg.includes(`this package holds no library for this platform, ${library.platformKey()} (it holds aix-ppc64, plan9-mips-gnu)`), msg);
  assert.match(msg, /build it with cargo \(make lib in a checkout\) and set WORKERLIFE_LIB to it/);
  assert.match(msg, /libworkerlife\.so \(the system loader's paths\): Failed to load shared library/);
});

test("a library of another release than the package's: both versions", (t) => {
  const app = installedCopy(t, { version: '9.8.7' });
  const msg = loadError('workerlife', { cwd: app, extra: { WORKERLIFE_LIB: REPO_LIB } });
  assert.ok(msg.includes(`${REPO_LIB} is version ${wl.version}, this package is 9.8.7`), msg);
});

test('packaging/build packs the library stripped in its platform folder, the licences, and no tests or benches', (t) => {
  const dist = tmp(t);
  const r = spawnSync(path.join(NODE_DIR, 'packaging', 'build'), [dist, PACKAGE.version], { env: env(), encoding: 'utf8' });
  assert.strictEqual(r.status, 0, r.stderr);
  const tgz = path.join(dist, `workerlife-${PACKAGE.version}.tgz`);
  const list = spawnSync('tar', ['tzf', tgz], { encoding: 'utf8' });
  assert.strictEqual(list.status, 0, list.stderr);
  const files = list.stdout.trim().split('\n').map((f) => f.replace(/^package\//, '')).sort();
  const libs = fs.readdirSync(path.join(NODE_DIR, 'lib')).map((f) => `lib/${f}`);
  assert.deepStrictEqual(files, [
    'LICENSE-APACHE', 'LICENSE-MIT', 'README.md', ...libs, 'package.json',
    `prebuilds/${library.platformKey()}/${library.fileName()}`,
  ].sort());
  const out = tmp(t);
  assert.strictEqual(spawnSync('tar', ['xzf', tgz, '-C', out]).status, 0);
  const packed = JSON.parse(fs.readFileSync(path.join(out, 'package', 'package.json'), 'utf8'));
  assert.strictEqual(packed.version, PACKAGE.version);
  assert.deepStrictEqual(packed.dependencies, PACKAGE.dependencies);
  assert.strictEqual(packed.scripts, undefined);
  const so = path.join(out, 'package', 'prebuilds', library.platformKey(), library.fileName());
  const sections = spawnSync('readelf', ['-S', '-W', so], { encoding: 'utf8' });
  assert.strictEqual(sections.status, 0, sections.stderr);
  assert.match(sections.stdout, /\.dynsym/);
  assert.doesNotMatch(sections.stdout, /\.debug_/, 'the library is stripped of debug info');
  assert.ok(fs.statSync(so).size < fs.statSync(REPO_LIB).size);
});
