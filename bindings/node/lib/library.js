'use strict';
// Where the native library is, and whether a file can be it, before koffi
// opens it. No native code here: the package build asks this module for the
// platform folder the library goes in, so build and load agree.
//
// The order: WORKERLIFE_LIB when set (only that file); else the package's
// own library for this platform (prebuilds/<platform>/); else, in the
// repository, the library `make lib` builds (target/release); else the
// system loader's paths. The first file that exists is the one used: a
// package library that is broken is reported, never passed over for another.

const fs = require('node:fs');
const path = require('node:path');

const PACKAGE = path.join(__dirname, '..');
const PREBUILDS = path.join(PACKAGE, 'prebuilds');

/** glibc or musl: Node reports the glibc it runs on, and nothing under musl. */
function libc() {
  const header = process.report?.getReport?.().header;
  return header?.glibcVersionRuntime ? 'gnu' : 'musl';
}

/** This process's platform folder: `linux-x64-gnu`, `linux-arm64-musl`, `darwin-arm64`... */
function platformKey() {
  const base = `${process.platform}-${process.arch}`;
  return process.platform === 'linux' ? `${base}-${libc()}` : base;
}

/** The library's file name on this OS. */
function fileName() {
  if (process.platform === 'darwin') return 'libworkerlife.dylib';
  if (process.platform === 'win32') return 'workerlife.dll';
  return 'libworkerlife.so';
}

/** The platform folders the package holds (none in the repository). */
function packaged() {
  try {
    return fs.readdirSync(PREBUILDS).filter((d) => fs.existsSync(path.join(PREBUILDS, d, fileName()))).sort();
  } catch {
    return [];
  }
}

/**
 * The files to try, in order, each as { file, from }, and notes on the
 * places passed over (a platform the package holds no library for), for
 * the error when none loads.
 */
function candidates() {
  const env = process.env.WORKERLIFE_LIB;
  if (env) return { list: [{ file: env, from: 'WORKERLIFE_LIB' }], notes: [] };
  const list = [];
  const notes = [];
  // A checkout holds no prebuilds: the platform (a process report, some
  // milliseconds) is asked only of a package that holds libraries.
  const held = packaged();
  const key = held.length > 0 ? platformKey() : null;
  if (key && held.includes(key)) {
    list.push({ file: path.join(PREBUILDS, key, fileName()), from: 'the package' });
  } else if (key) {
    notes.push(`this package holds no library for this platform, ${key} (it holds ${held.join(', ')}): build it with cargo (make lib in a checkout) and set WORKERLIFE_LIB to it`);
  }
  // In the repository (this file at <root>/bindings/node/lib): the library
  // `make lib` builds. An installed copy sits in node_modules instead, and
  // never looks at its user's project for one.
  const root = path.resolve(PACKAGE, '..', '..');
  if (path.basename(path.dirname(PACKAGE)) === 'bindings' && fs.existsSync(path.join(root, 'Cargo.toml'))) {
    const repo = path.join(root, 'target', 'release', fileName());
    if (fs.existsSync(repo)) list.push({ file: repo, from: 'the repository' });
  }
  list.push({ file: fileName(), from: "the system loader's paths", system: true });
  return { list, notes };
}

/**
 * Why `file` cannot be a whole ELF library, or null when it may be: an
 * ELF file shorter than its own headers say (a copy cut short) is refused
 * here, because dlopen maps such a file and the process dies of SIGBUS
 * when it touches the missing part. Anything else is the loader's to judge.
 */
function truncated(file) {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const h = Buffer.alloc(64);
    const n = fs.readSync(fd, h, 0, 64, 0);
    // Only 64-bit little-endian ELF is read here (EI_CLASS 2, EI_DATA 1).
    if (n < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return null;
    const phoff = Number(h.readBigUInt64LE(32));
    const shoff = Number(h.readBigUInt64LE(40));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const shentsize = h.readUInt16LE(58);
    const shnum = h.readUInt16LE(60);
    let need = Math.max(phoff + phentsize * phnum, shnum ? shoff + shentsize * shnum : 0);
    if (phoff + phentsize * phnum <= size && phentsize >= 56) {
      const ph = Buffer.alloc(phentsize * phnum);
      fs.readSync(fd, ph, 0, ph.length, phoff);
      for (let i = 0; i < phnum; i++) {
        const p = ph.subarray(i * phentsize);
        need = Math.max(need, Number(p.readBigUInt64LE(8)) + Number(p.readBigUInt64LE(32))); // p_offset + p_filesz
      }
    }
    return need > size ? `truncated: ${size} bytes, its ELF headers need ${need}` : null;
  } catch {
    return null; // unreadable: the loader says why
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

module.exports = { platformKey, fileName, packaged, candidates, truncated, PACKAGE };
