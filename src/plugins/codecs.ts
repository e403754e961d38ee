// codecs: the codec registry as a plugin. Built-ins: stored (id 0), dlz (1, the default), deflate (2, gzip-compatible);
// a third-party codec is one more CodecPlugin with its own name, id and worker module.
import * as path from 'node:path';
import type { Pipeline, PipelinePlugin } from '../pipeline/pipeline';
import type { CodecDescriptor } from '../pipeline/types';

const codecsDir = path.join(__dirname, '..', 'codecs');

export const BUILTIN_CODECS: readonly CodecDescriptor[] = Object.freeze([
  { name: 'stored', id: 0, module: '', options: {}, provider: 'dmtcp-ts' },
  { name: 'dlz', id: 1, module: path.join(codecsDir, 'dlz.js'), options: {}, provider: 'dmtcp-ts' },
  { name: 'deflate', id: 2, module: path.join(codecsDir, 'deflate.js'), options: { level: 6 }, provider: 'dmtcp-ts' },
]);

/** Names users may type for a codec, mapped to the registered name. */
const ALIASES: Record<string, string> = { '': 'dlz', default: 'dlz', none: 'stored', gzip: 'deflate' };

export interface CodecPluginOptions {
  name: string;
  id: number;
  /** Path of the module worker threads load: it exports createCodec(options). */
  module: string;
  options?: Record<string, unknown>;
  provider?: string;
}

/** Registers one codec: answers selectCodec for its name and resolveCodec for its id. */
export class CodecPlugin implements PipelinePlugin {
  static readonly pluginName = 'CodecPlugin';
  readonly codec: CodecDescriptor;

  constructor(opts: CodecPluginOptions) {
    if (!/^[a-z][a-z0-9._-]*$/.test(opts.name)) {
      throw new Error(`CodecPlugin: name must be lower-case letters, digits, '.', '_' or '-', got ${JSON.stringify(opts.name)}`);
    }
    if (!Number.isInteger(opts.id) || opts.id < 0 || opts.id > 255) throw new Error(`CodecPlugin ${opts.name}: id must be 0-255, got ${opts.id}`);
    if (opts.id !== 0 && !path.isAbsolute(opts.module)) throw new Error(`CodecPlugin ${opts.name}: module must be an absolute path, got ${opts.module}`);
    this.codec = Object.freeze({
      name: opts.name,
      id: opts.id,
      module: opts.module,
      options: Object.freeze({ ...(opts.options ?? {}) }),
      provider: opts.provider ?? opts.name,
    });
  }

  apply(pipeline: Pipeline): void {
    const name = `codec:${this.codec.name}`;
    pipeline.hooks.selectCodec.tap(name, (wanted) => ((ALIASES[wanted] ?? wanted) === this.codec.name ? this.codec : undefined));
    pipeline.hooks.resolveCodec.tap(name, (id) => (id === this.codec.id ? this.codec : undefined));
  }
}

export function builtinCodecPlugins(deflateLevel?: number): CodecPlugin[] {
  return BUILTIN_CODECS.map((c) =>
    new CodecPlugin({ ...c, options: c.name === 'deflate' && deflateLevel !== undefined ? { level: deflateLevel } : { ...c.options } }),
  );
}
