// user-plugins: the TypeScript plugins users add with --plugin (docs/PLUGINS.md). Loads plugin modules by absolute
// path (cached), runs their checkpoint() in the image service for the processes that listed them, records them in
// META, serves the codecs they provide, and gives each its sections back at restart.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageError } from '../pipeline/image-reader';
import type { Pipeline, PipelinePlugin } from '../pipeline/pipeline';
import type { CheckpointContext, CodecDescriptor, ProcessStrings, RestartContext } from '../pipeline/types';

// ---- the API a plugin module implements (module.exports = {...}, or export default {...}) ----

/** Bytes of one section: a Buffer or Uint8Array, or a string (stored as UTF-8). */
export type SectionBytes = Buffer | Uint8Array | string;
export type SectionsLike = Record<string, SectionBytes> | Map<string, SectionBytes>;

/** What a plugin knows about the process it serves, at checkpoint and at restart. */
export interface UserPluginProcess {
  /** The KEY=VALUE options given after the plugin's path (`--plugin ./p.js,dir=/data`). */
  readonly options: Readonly<Record<string, string>>;
  readonly program: string;
  readonly argv: readonly string[];
  /** The program's working directory at checkpoint. */
  readonly cwd: string;
  readonly host: string;
  /** The pid as the program knows it (it keeps it across restarts). */
  readonly pid: number;
  readonly computation: string;
  readonly workerId: string;
  readonly generation: number;
  /** The image's final path. */
  readonly imagePath: string;
}

export interface UserCheckpointContext extends UserPluginProcess {
  /** The kernel's pid of the process now (differs from `pid` after a restart). */
  readonly realPid: number;
  readonly ckptDir: string;
}

export type UserRestartContext = UserPluginProcess;

/** A codec the plugin provides: `module` exports createCodec(options) (src/pipeline/codec.ts) and is loaded in worker
 *  threads; `id` (16-255) goes into every chunk it encodes. */
export interface UserCodec {
  readonly name: string;
  readonly id: number;
  /** Absolute, or relative to the plugin's own file. */
  readonly module: string;
  readonly options?: Readonly<Record<string, unknown>>;
}

export interface UserPlugin {
  /** Lower-case letters, digits, '.', '_' or '-'; names its sections in the image and its entry in META. */
  readonly name: string;
  /** At every checkpoint, in the coordinator's image service, while the process is frozen: sections to store. */
  checkpoint?(ctx: UserCheckpointContext): SectionsLike | undefined | void | Promise<SectionsLike | undefined | void>;
  /** At restart, in dmtcp_restart, before the process exists again: the sections this plugin stored. */
  restart?(ctx: UserRestartContext, sections: ReadonlyMap<string, Buffer>): void | Promise<void>;
  readonly codecs?: readonly UserCodec[];
}

// ---- plugin specs: "PATH[,KEY=VALUE...]" ----

export interface PluginSpec {
  /** Absolute path of the module. */
  readonly file: string;
  readonly options: Readonly<Record<string, string>>;
}

/** A plugin that cannot be used: one line naming the file (or the spec) and what is wrong. */
export class UserPluginError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserPluginError';
  }
}

/** The environment variable that lists plugins, ':'-separated. */
export const PLUGINS_ENV = 'DMTCP_TS_PLUGINS';

const NAME_RE = /^[a-z][a-z0-9._-]*$/;
const SECTION_RE = /^[A-Za-z0-9._-]{1,200}$/;
const KEY_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
/** Codec names the built-in registry already answers (src/plugins/codecs.ts, its aliases included). */
const RESERVED_CODECS = new Set(['stored', 'dlz', 'deflate', 'none', 'gzip', 'default']);
export const FIRST_PLUGIN_CODEC_ID = 16;
const MAX_SECTION = 1 << 30;

export function parsePluginSpec(text: string, base = process.cwd()): PluginSpec {
  const [file, ...rest] = text.split(',');
  if (!file) throw new UserPluginError(`plugin "${text}": no path before the options`);
  if (file.includes(':')) throw new UserPluginError(`plugin "${text}": the path may not contain ':' (it separates plugins in ${PLUGINS_ENV})`);
  const options: Record<string, string> = {};
  for (const kv of rest) {
    const eq = kv.indexOf('=');
    const key = eq > 0 ? kv.slice(0, eq) : '';
    if (!KEY_RE.test(key)) throw new UserPluginError(`plugin "${text}": option "${kv}" must be KEY=VALUE`);
    const value = kv.slice(eq + 1);
    if (value.includes(':')) throw new UserPluginError(`plugin "${text}": option ${key} may not contain ':' (it separates plugins in ${PLUGINS_ENV})`);
    options[key] = value;
  }
  return Object.freeze({ file: path.resolve(base, file), options: Object.freeze(options) });
}

export function formatPluginSpec(spec: PluginSpec): string {
  return [spec.file, ...Object.entries(spec.options).map(([k, v]) => `${k}=${v}`)].join(',');
}

/** Specs of a ':'-separated list (DMTCP_TS_PLUGINS); relative paths are taken from `base`. */
export function parsePluginList(list: string | undefined, base = process.cwd()): PluginSpec[] {
  return (list ?? '').split(':').filter(Boolean).map((s) => parsePluginSpec(s, base));
}

// ---- loading ----

export interface LoadedPlugin {
  readonly file: string;
  readonly plugin: UserPlugin;
  readonly codecs: readonly CodecDescriptor[];
}

const loaded = new Map<string, LoadedPlugin>();

/** Loads a plugin module once per path (later calls return the same one); throws UserPluginError naming the file. */
export function loadPlugin(file: string): LoadedPlugin {
  const hit = loaded.get(file);
  if (hit) return hit;
  const fail = (why: string): never => {
    throw new UserPluginError(`cannot load plugin ${file}: ${why}`);
  };
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    fail('no such file');
  }
  if (!st!.isFile()) fail('not a file');
  // The coordinator runs it with its own rights: a file anyone may change is anyone's code.
  if (st!.mode & 0o002) fail('it is writable by every user; chmod o-w it');
  let mod: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    mod = require(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_REQUIRE_ESM') fail('it is an ES module; plugins are CommonJS (module.exports, or TypeScript compiled with "module": "commonjs")');
    const first = String(err?.message ?? e).split('\n').find((l) => l.trim()) ?? 'unknown error';
    fail(`${err instanceof SyntaxError ? 'syntax error: ' : ''}${first}`);
  }
  // CommonJS module.exports, TypeScript's `export default` (exports.default), or an ES module's namespace (Node's
  // require() of ES modules).
  const m = mod as { name?: unknown; default?: unknown } | null;
  const exported = m && typeof m === 'object' && m.name === undefined && m.default !== undefined ? m.default : mod;
  const plugin = validate(exported, file, fail);
  const codecs = (plugin.codecs ?? []).map((c, i) => codecDescriptor(c, i, file, fail));
  const result: LoadedPlugin = Object.freeze({ file, plugin, codecs: Object.freeze(codecs) });
  loaded.set(file, result);
  return result;
}

function validate(x: unknown, file: string, fail: (why: string) => never): UserPlugin {
  const shape = 'a plugin exports an object with a name and checkpoint(), restart() or codecs (docs/PLUGINS.md)';
  if (!x || typeof x !== 'object') fail(`it exports ${x === null ? 'null' : typeof x}; ${shape}`);
  const p = x as Record<string, unknown>;
  if (typeof p.name !== 'string' || !NAME_RE.test(p.name)) {
    fail(`its name must be lower-case letters, digits, '.', '_' or '-', got ${JSON.stringify(p.name)}`);
  }
  for (const fn of ['checkpoint', 'restart'] as const) {
    if (p[fn] !== undefined && typeof p[fn] !== 'function') fail(`its ${fn} must be a function, got ${typeof p[fn]}`);
  }
  if (p.codecs !== undefined && !Array.isArray(p.codecs)) fail('its codecs must be an array');
  if (p.checkpoint === undefined && p.restart === undefined && !(p.codecs as unknown[] | undefined)?.length) fail(`it has nothing to do; ${shape}`);
  return p as unknown as UserPlugin;
}

function codecDescriptor(c: UserCodec, i: number, file: string, fail: (why: string) => never): CodecDescriptor {
  if (!c || typeof c !== 'object') fail(`codecs[${i}] is not an object`);
  if (typeof c.name !== 'string' || !NAME_RE.test(c.name)) fail(`codecs[${i}].name must be lower-case letters, digits, '.', '_' or '-', got ${JSON.stringify(c.name)}`);
  if (RESERVED_CODECS.has(c.name)) fail(`codec name "${c.name}" is taken by a built-in codec`);
  if (!Number.isInteger(c.id) || c.id < FIRST_PLUGIN_CODEC_ID || c.id > 255) fail(`codec ${c.name}: id must be ${FIRST_PLUGIN_CODEC_ID}-255, got ${c.id}`);
  if (typeof c.module !== 'string' || !c.module) fail(`codec ${c.name}: module must be a path`);
  const module = path.resolve(path.dirname(file), c.module);
  if (!fs.existsSync(module)) fail(`codec ${c.name}: its module ${module} does not exist`);
  return Object.freeze({ name: c.name, id: c.id, module, options: Object.freeze({ ...(c.options ?? {}) }), provider: file });
}

/** A plugin one process uses: its spec and its loaded module. */
export interface ActivePlugin {
  readonly spec: PluginSpec;
  readonly loaded: LoadedPlugin;
}

/** Loads every spec; two plugins of one name, or two codecs of one name or id, are refused. */
export function loadAll(specs: readonly PluginSpec[]): ActivePlugin[] {
  const out: ActivePlugin[] = [];
  for (const spec of specs) {
    const l = loadPlugin(spec.file);
    const same = out.find((a) => a.loaded.plugin.name === l.plugin.name);
    if (same) {
      if (same.loaded.file === l.file) continue;
      throw new UserPluginError(`plugins ${same.loaded.file} and ${l.file} are both named "${l.plugin.name}"; pass only one`);
    }
    for (const c of l.codecs) {
      for (const a of out) {
        const clash = a.loaded.codecs.find((o) => o.id === c.id || o.name === c.name);
        if (clash) throw new UserPluginError(`codec ${c.name} (id ${c.id}) of ${l.file} clashes with codec ${clash.name} (id ${clash.id}) of ${a.loaded.file}`);
      }
    }
    out.push({ spec, loaded: l });
  }
  return out;
}

// ---- what an image records: META.userPlugins ----

export interface RecordedPlugin {
  name: string;
  /** The module's path when the image was written. */
  path: string;
  options: Record<string, string>;
  /** The sections it wrote (stored as PLUGIN blocks named "<name>/<section>"). */
  sections: string[];
  /** The codecs it provides. */
  codecs: string[];
}

export function recordedPlugins(meta: Record<string, unknown>): RecordedPlugin[] {
  const list = meta.userPlugins;
  if (!Array.isArray(list)) return [];
  return list.filter((e): e is RecordedPlugin => !!e && typeof e === 'object' && typeof e.name === 'string' && typeof e.path === 'string').map((e) => ({
    name: e.name,
    path: e.path,
    options: e.options && typeof e.options === 'object' ? { ...e.options } : {},
    sections: Array.isArray(e.sections) ? e.sections.map(String) : [],
    codecs: Array.isArray(e.codecs) ? e.codecs.map(String) : [],
  }));
}

/** Names of the plugin codecs (ids 16-255) an image's chunks use, by id, from META.codecs. */
export function pluginCodecsUsed(meta: Record<string, unknown>): Map<number, string> {
  const out = new Map<number, string>();
  const m = meta.codecs;
  if (m && typeof m === 'object') {
    for (const [k, v] of Object.entries(m)) if (Number(k) >= FIRST_PLUGIN_CODEC_ID) out.set(Number(k), String(v));
  }
  return out;
}

/** The plugin sections of an image, grouped by plugin name (section names without the "<name>/" prefix). */
export function sectionsByPlugin(sections: ReadonlyMap<string, Buffer>): Map<string, Map<string, Buffer>> {
  const out = new Map<string, Map<string, Buffer>>();
  for (const [key, bytes] of sections) {
    const slash = key.indexOf('/');
    if (slash <= 0) continue;
    const name = key.slice(0, slash);
    if (!out.has(name)) out.set(name, new Map());
    out.get(name)!.set(key.slice(slash + 1), bytes);
  }
  return out;
}

function processView(s: ProcessStrings, options: Readonly<Record<string, string>>, generation: number, imagePath: string): UserPluginProcess {
  return Object.freeze({
    options, program: s.program, argv: Object.freeze([...s.argv]), cwd: s.cwd, host: s.host, pid: s.vpid,
    computation: s.computation, workerId: s.workerId, generation, imagePath,
  });
}

function toBuffer(b: SectionBytes): Buffer {
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  throw new TypeError(`a section must be a Buffer, Uint8Array or string, got ${typeof b}`);
}

// ---- the pipeline plugin ----

export interface UserPluginsOptions {
  /** Plugins given to this command (dmtcp_restart --plugin, readimage); default: DMTCP_TS_PLUGINS. They provide
   *  codecs here; at checkpoint only the plugins a process listed run for it. */
  explicit?: readonly PluginSpec[];
}

/** Runs user plugins inside the pipeline: their checkpoint() in finishImage, their codecs in selectCodec and
 *  resolveCodec (loading the plugin an image names in META when it is still where it was). */
export class UserPluginsPlugin implements PipelinePlugin {
  static readonly pluginName = 'UserPluginsPlugin';
  private readonly resolved = new WeakMap<object, Map<number, CodecDescriptor | undefined>>();

  constructor(private readonly opts: UserPluginsOptions = {}) {
    if (opts.explicit !== undefined && !Array.isArray(opts.explicit)) throw new Error('UserPluginsPlugin: explicit must be an array of plugin specs');
  }

  private explicit(): ActivePlugin[] {
    return loadAll(this.opts.explicit ?? parsePluginList(process.env[PLUGINS_ENV]));
  }

  /** The plugins a checkpointing process listed (DMTCP_TS_PLUGINS in its environment at launch). */
  private forProcess(ctx: CheckpointContext): ActivePlugin[] {
    const specs = (ctx?.strings?.plugins ?? []).map((s) => parsePluginSpec(s, ctx.strings.cwd || '/'));
    return specs.length ? loadAll(specs) : [];
  }

  apply(pipeline: Pipeline): void {
    const name = UserPluginsPlugin.pluginName;
    pipeline.hooks.selectCodec.tap(name, (wanted, ctx) => {
      for (const a of [...this.forProcess(ctx), ...this.explicit()]) {
        const c = a.loaded.codecs.find((d) => d.name === wanted);
        if (c) return c;
      }
      return undefined;
    });
    // Load the process's plugins before anything is written: one that cannot load fails the image at once.
    pipeline.hooks.beforeCheckpoint.tapPromise(name, async (ctx) => {
      this.forProcess(ctx);
    });
    pipeline.hooks.finishImage.tapPromise(name, (ctx) => this.finish(ctx));
    pipeline.hooks.resolveCodec.tap(name, (id, ctx) => this.codecById(id, ctx));
  }

  private async finish(ctx: CheckpointContext): Promise<void> {
    const active = this.forProcess(ctx);
    const codec = ctx.codec;
    if (codec.id >= FIRST_PLUGIN_CODEC_ID && !active.some((a) => a.loaded.file === codec.provider)) {
      active.push({ spec: { file: codec.provider, options: {} }, loaded: loadPlugin(codec.provider) });
    }
    if (!active.length) return;
    const records: RecordedPlugin[] = [];
    for (const { spec, loaded: l } of active) {
      const written: string[] = [];
      if (l.plugin.checkpoint) {
        const view: UserCheckpointContext = Object.freeze({
          ...processView(ctx.strings, spec.options, ctx.process.generation, ctx.imagePath),
          realPid: ctx.process.pid,
          ckptDir: ctx.ckptDir,
        });
        let result: SectionsLike | undefined | void;
        try {
          result = await l.plugin.checkpoint(view);
          const entries = result instanceof Map ? [...result.entries()] : Object.entries(result ?? {});
          for (const [section, bytes] of entries) {
            if (!SECTION_RE.test(section)) throw new Error(`section name ${JSON.stringify(section)} must be 1-200 letters, digits, '.', '_' or '-'`);
            const buf = toBuffer(bytes);
            if (buf.length > MAX_SECTION) throw new Error(`section ${section} has ${buf.length} bytes; at most ${MAX_SECTION} fit`);
            ctx.sections.set(`${l.plugin.name}/${section}`, buf);
            written.push(section);
          }
        } catch (e) {
          throw new UserPluginError(`plugin ${l.plugin.name} (${l.file}) failed at checkpoint: ${(e as Error)?.message ?? String(e)}`);
        }
      }
      records.push({ name: l.plugin.name, path: l.file, options: { ...spec.options }, sections: written, codecs: l.codecs.map((c) => c.name) });
    }
    ctx.meta.userPlugins = records;
  }

  /** The codec of a chunk's id, when it is a plugin's: a plugin given here, else the one the image names. */
  private codecById(id: number, ctx: RestartContext): CodecDescriptor | undefined {
    if (id < FIRST_PLUGIN_CODEC_ID) return undefined;
    const meta = ctx?.meta ?? {};
    let cache = this.resolved.get(meta);
    if (!cache) this.resolved.set(meta, (cache = new Map()));
    if (cache.has(id)) return cache.get(id);
    const name = pluginCodecsUsed(meta).get(id);
    const match = (l: LoadedPlugin) => l.codecs.find((c) => c.id === id && (name === undefined || c.name === name));
    for (const a of this.explicit()) {
      const c = match(a.loaded);
      if (c) {
        cache.set(id, c);
        return c;
      }
    }
    const provider = name === undefined ? undefined : recordedPlugins(meta).find((r) => r.codecs.includes(name));
    if (!provider) return undefined;   // the codec registry's own message says it is not installed
    try {
      const c = match(loadPlugin(provider.path));
      if (c) {
        cache.set(id, c);
        return c;
      }
      throw new UserPluginError(`plugin ${provider.path} no longer provides codec ${name} with id ${id}`);
    } catch (e) {
      throw new ImageError(ctx.imagePath, undefined, missingCodecMessage(name!, provider, (e as Error).message));
    }
  }
}

function missingCodecMessage(codec: string, provider: RecordedPlugin, why: string): string {
  const reason = why.replace(`cannot load plugin ${provider.path}: `, '');
  return `the image's codec "${codec}" comes from plugin "${provider.name}" (${provider.path}), which cannot be loaded here (${reason}); pass --plugin PATH or set ${PLUGINS_ENV}=PATH`;
}

// ---- restart: which plugins an image needs, and giving them their sections ----

/** A plugin an image needs at restart, resolved to a module. */
export interface NeededPlugin {
  readonly recorded: RecordedPlugin;
  readonly active: ActivePlugin;
}

/** The plugins an image needs (it holds their sections or uses their codec), each taken from the plugins given
 *  (same name) or else from where the image says it was; throws one line naming the image and what to pass. */
export function neededPlugins(imagePath: string, meta: Record<string, unknown>, given: readonly ActivePlugin[]): NeededPlugin[] {
  const used = new Set(pluginCodecsUsed(meta).values());
  const out: NeededPlugin[] = [];
  const recorded = recordedPlugins(meta);
  for (const r of recorded) {
    const codecs = r.codecs.filter((c) => used.has(c));
    if (!r.sections.length && !codecs.length) continue;
    let active = given.find((g) => g.loaded.plugin.name === r.name);
    if (!active) {
      try {
        active = { spec: { file: r.path, options: r.options }, loaded: loadPlugin(r.path) };
      } catch (e) {
        const what = [r.sections.length ? `its sections ${r.sections.join(', ')}` : '', codecs.length ? `codec ${codecs.join(', ')}` : ''].filter(Boolean).join(' and ');
        const reason = (e as Error).message.replace(`cannot load plugin ${r.path}: `, '');
        throw new UserPluginError(`${imagePath} needs plugin "${r.name}" (${what}), recorded as ${r.path}, which cannot be loaded (${reason}); pass --plugin PATH`);
      }
      if (active.loaded.plugin.name !== r.name) {
        throw new UserPluginError(`${imagePath} needs plugin "${r.name}", but ${r.path} is now plugin "${active.loaded.plugin.name}"; pass --plugin PATH`);
      }
    }
    for (const c of codecs) {
      if (!active.loaded.codecs.some((d) => d.name === c)) throw new UserPluginError(`${imagePath} uses codec "${c}", which plugin ${active.loaded.file} does not provide; pass --plugin PATH of the plugin that does`);
    }
    out.push({ recorded: r, active });
  }
  for (const codec of used) {
    const provided = out.some((n) => n.active.loaded.codecs.some((c) => c.name === codec)) || given.some((g) => g.loaded.codecs.some((c) => c.name === codec));
    if (!provided) throw new UserPluginError(`${imagePath} uses codec "${codec}", which no plugin given here provides; pass --plugin PATH of the plugin that provides it`);
  }
  return out;
}

/** What restart() needs of an opened image. */
export interface RestartImage {
  readonly path: string;
  readonly strings: ProcessStrings;
  readonly generation: number;
  readonly sections: ReadonlyMap<string, Buffer>;
}

/** Gives every needed plugin its sections (in the reverse order of checkpoint), before the process runs again. */
export async function restorePluginSections(image: RestartImage, needed: readonly NeededPlugin[]): Promise<void> {
  const byPlugin = sectionsByPlugin(image.sections);
  for (const n of [...needed].reverse()) {
    const plugin = n.active.loaded.plugin;
    if (!plugin.restart) continue;
    const options = Object.keys(n.active.spec.options).length ? n.active.spec.options : n.recorded.options;
    const ctx = processView(image.strings, Object.freeze({ ...options }), image.generation, image.path);
    try {
      await plugin.restart(ctx, byPlugin.get(plugin.name) ?? new Map());
    } catch (e) {
      throw new UserPluginError(`plugin ${plugin.name} (${n.active.loaded.file}) failed to restore ${image.path}: ${(e as Error)?.message ?? String(e)}`);
    }
  }
}

/** The plugin list restarted processes use for later checkpoints: what they had, with the plugins given to
 *  dmtcp_restart replacing those of the same name and added when new. Undefined when none were given. */
export function pluginListAfterRestart(images: readonly Record<string, unknown>[], given: readonly ActivePlugin[]): string | undefined {
  if (!given.length) return undefined;
  const byName = new Map<string, PluginSpec>();
  for (const meta of images) {
    for (const r of recordedPlugins(meta)) if (!byName.has(r.name)) byName.set(r.name, { file: r.path, options: r.options });
  }
  for (const g of given) {
    const had = byName.get(g.loaded.plugin.name);
    // A plugin given without options keeps the options it was launched with.
    byName.set(g.loaded.plugin.name, { file: g.spec.file, options: Object.keys(g.spec.options).length ? g.spec.options : had?.options ?? {} });
  }
  return [...byName.values()].map(formatPluginSpec).join(':');
}
