// workdir: keeps a directory the program writes to in step with its memory. At every checkpoint the directory's
// files go into the image (sections "manifest" and "data"); at restart, before the program runs again, the directory
// is made exactly what it was: missing files written back, files that appeared since removed, contents, modes and
// modification times restored.
//   dmtcp_launch --plugin dist/examples/workdir-plugin/index.js,dir=/path/to/dir ./program
// Options: dir (required; relative to the program's working directory), maxBytes (default 268435456).
// See docs/PLUGINS.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { UserCheckpointContext, UserPlugin, UserRestartContext } from '../../src/plugins/user-plugins';

interface Entry {
  /** Relative to the directory, '/'-separated. */
  path: string;
  type: 'dir' | 'file' | 'symlink';
  mode: number;
  /** Modification time in nanoseconds (decimal): set again only when it differs, since setting it keeps only about
   *  a microsecond of precision. */
  mtimeNs: string;
  /** Files: where their bytes are in the data section, and how many. */
  offset?: number;
  size?: number;
  /** Symbolic links: what they point at. */
  target?: string;
}

interface Manifest {
  version: 1;
  dir: string;
  /** The directory did not exist at checkpoint (restart then leaves whatever is there alone). */
  missing?: boolean;
  entries: Entry[];
  /** Files of other kinds (sockets, FIFOs, devices), not saved. */
  skipped: string[];
}

const DEFAULT_MAX = 256 << 20;

function directory(ctx: UserCheckpointContext | UserRestartContext): string {
  const dir = ctx.options.dir;
  if (!dir) throw new Error('no directory given: load the plugin as PATH,dir=DIR');
  return path.resolve(ctx.cwd || '/', dir);
}

/** Every entry under `root`, parents before children, in name order. */
function walk(root: string, rel = '', out: { entries: Entry[]; skipped: string[]; files: string[] } = { entries: [], skipped: [], files: [] }) {
  for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const full = path.join(root, r);
    const st = fs.lstatSync(full, { bigint: true });
    const base = { path: r, mode: Number(st.mode & 0o7777n), mtimeNs: st.mtimeNs.toString() };
    if (st.isDirectory()) {
      out.entries.push({ ...base, type: 'dir' });
      walk(root, r, out);
    } else if (st.isFile()) {
      out.entries.push({ ...base, type: 'file', size: Number(st.size) });
      out.files.push(full);
    } else if (st.isSymbolicLink()) {
      out.entries.push({ ...base, type: 'symlink', target: fs.readlinkSync(full) });
    } else {
      out.skipped.push(r);
    }
  }
  return out;
}

function checkpoint(ctx: UserCheckpointContext): Record<string, Buffer> {
  const dir = directory(ctx);
  const max = ctx.options.maxBytes ? Number(ctx.options.maxBytes) : DEFAULT_MAX;
  if (!Number.isSafeInteger(max) || max < 0) throw new Error(`maxBytes must be a whole number, got ${ctx.options.maxBytes}`);
  if (!fs.existsSync(dir)) {
    const manifest: Manifest = { version: 1, dir, missing: true, entries: [], skipped: [] };
    return { manifest: Buffer.from(JSON.stringify(manifest)), data: Buffer.alloc(0) };
  }
  const { entries, skipped, files } = walk(dir);
  const chunks: Buffer[] = [];
  let offset = 0;
  let f = 0;
  for (const e of entries) {
    if (e.type !== 'file') continue;
    const bytes = fs.readFileSync(files[f++]);
    e.offset = offset;
    e.size = bytes.length;   // as read now: the program is frozen, so this is the size it last wrote
    offset += bytes.length;
    if (offset > max) throw new Error(`${dir} holds more than ${max} bytes; pass maxBytes=N to allow more`);
    chunks.push(bytes);
  }
  const manifest: Manifest = { version: 1, dir, entries, skipped };
  return { manifest: Buffer.from(JSON.stringify(manifest)), data: Buffer.concat(chunks, offset) };
}

function restart(ctx: UserRestartContext, sections: ReadonlyMap<string, Buffer>): void {
  const manifestBytes = sections.get('manifest');
  const data = sections.get('data') ?? Buffer.alloc(0);
  if (!manifestBytes) throw new Error(`the image holds no manifest section`);
  const m = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
  if (m.version !== 1) throw new Error(`manifest version ${m.version} is not one this plugin reads`);
  if (m.missing) return;
  const dir = m.dir;
  fs.mkdirSync(dir, { recursive: true });
  const wanted = new Map(m.entries.map((e) => [e.path, e]));

  // What appeared since the checkpoint, or changed kind, goes (children first, symlinks never followed).
  const present = walk(dir);
  for (const e of [...present.entries].reverse()) {
    const w = wanted.get(e.path);
    if (!w || w.type !== e.type) fs.rmSync(path.join(dir, e.path), { recursive: true, force: true });
  }
  for (const r of present.skipped) if (!wanted.has(r)) fs.rmSync(path.join(dir, r), { force: true });

  for (const e of m.entries) {
    const full = path.join(dir, e.path);
    if (e.type === 'dir') {
      fs.mkdirSync(full, { recursive: true });
    } else if (e.type === 'symlink') {
      fs.rmSync(full, { force: true });
      fs.symlinkSync(e.target!, full);
    } else {
      const bytes = data.subarray(e.offset!, e.offset! + e.size!);
      if (bytes.length !== e.size) throw new Error(`the data section is too short for ${e.path}`);
      const same = fs.existsSync(full) && fs.statSync(full).size === bytes.length && fs.readFileSync(full).equals(bytes);
      if (!same) {
        // Written aside and renamed: a reader never sees half a file.
        const tmp = `${full}.workdir-restore-${process.pid}`;
        fs.writeFileSync(tmp, bytes, { mode: e.mode });
        fs.renameSync(tmp, full);
      }
      fs.chmodSync(full, e.mode);
      setMtime(full, e.mtimeNs);
    }
  }
  // Directories last and deepest first: creating their contents changed their times.
  for (const e of [...m.entries].reverse()) {
    if (e.type !== 'dir') continue;
    const full = path.join(dir, e.path);
    fs.chmodSync(full, e.mode);
    setMtime(full, e.mtimeNs);
  }
}

function setMtime(file: string, mtimeNs: string): void {
  const want = BigInt(mtimeNs);
  if (fs.statSync(file, { bigint: true }).mtimeNs === want) return;
  const seconds = Number(want / 1000n) / 1e6;
  fs.utimesSync(file, seconds, seconds);
}

const plugin: UserPlugin = { name: 'workdir', checkpoint, restart };

export = plugin;
