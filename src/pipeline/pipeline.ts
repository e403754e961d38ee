// The Pipeline: the frozen hooks plus the rules every tap obeys (error wrapping, reversed order on the way back).
import { createHooks, REVERSED_HOOKS, type HookName, type PipelineHooks } from './hooks';
import type { WorkerPool } from './workers/pool';
import { BufferPool, ByteBudget } from './buffer-pool';
import { CHUNK_SIZE } from './image-format';

/** A failure inside a plugin, naming the hook and plugin; the original error is kept as `cause`. */
export class PluginError extends Error {
  constructor(readonly hook: string, readonly plugin: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`plugin ${plugin} failed in ${hook}: ${why}`, { cause });
    this.name = 'PluginError';
  }
}

export interface PipelinePlugin {
  apply(pipeline: Pipeline): void;
}

interface TapLike {
  name: string;
  type: string;
  stage?: number;
  before?: string | string[];
  fn: (...args: unknown[]) => unknown;
}

export class Pipeline {
  readonly hooks: PipelineHooks;
  private readonly applied: string[] = [];
  private poolFactory?: () => WorkerPool;
  private pool?: WorkerPool;
  /** Chunk-sized buffers lent to workers and recycled after each write. */
  readonly buffers = new BufferPool(CHUNK_SIZE, 96);
  /** Chunk bytes in flight across every image written at once (a few chunks per worker thread). */
  readonly budget = new ByteBudget(() => 8 * CHUNK_SIZE * Math.max(1, this.workers().size));

  constructor(plugins: readonly PipelinePlugin[] = []) {
    this.hooks = createHooks();
    for (const name of Object.keys(this.hooks) as HookName[]) this.guard(name);
    for (const plugin of plugins) this.use(plugin);
  }

  use(plugin: PipelinePlugin): this {
    const name = (plugin.constructor as { pluginName?: string }).pluginName ?? plugin.constructor.name;
    plugin.apply(this);
    this.applied.push(name);
    return this;
  }

  /** Names of the applied plugins, in order. */
  get plugins(): readonly string[] {
    return this.applied;
  }

  /** Worker threads for codec work, created on first use and shared by every image in this process. */
  workers(): WorkerPool {
    if (!this.pool) {
      if (!this.poolFactory) {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const { WorkerPool: Pool } = require('./workers/pool') as typeof import('./workers/pool');
        this.poolFactory = () => new Pool();
      }
      this.pool = this.poolFactory();
    }
    return this.pool;
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }

  /** Wraps every tap of `name` so errors name the plugin, and reverses order where the hook unwinds. */
  private guard(name: HookName): void {
    const hook = this.hooks[name] as unknown as {
      intercept(i: { register(tap: TapLike): TapLike }): void;
      taps: TapLike[];
    };
    const reversed = REVERSED_HOOKS.has(name);
    hook.intercept({
      register: (tap: TapLike): TapLike => {
        const wrapped: TapLike = { ...tap, fn: wrapTapFn(name, tap) };
        if (reversed) {
          const stage = -(tap.stage ?? 0);
          wrapped.stage = stage;
          const same = hook.taps.filter((t) => (t.stage ?? 0) === stage).map((t) => t.name);
          if (same.length) wrapped.before = same;
        }
        return wrapped;
      },
    });
  }
}

function wrapTapFn(hook: string, tap: TapLike): TapLike['fn'] {
  const fn = tap.fn;
  const rethrow = (e: unknown): never => {
    if (e instanceof PluginError) throw e;
    throw new PluginError(hook, tap.name, e);
  };
  if (tap.type === 'promise') {
    return (...args: unknown[]) => {
      try {
        return (fn(...args) as Promise<unknown>).catch(rethrow);
      } catch (e) {
        return rethrow(e);
      }
    };
  }
  if (tap.type === 'sync') {
    return (...args: unknown[]) => {
      try {
        return fn(...args);
      } catch (e) {
        return rethrow(e);
      }
    };
  }
  throw new Error(`plugin ${tap.name}: ${hook} accepts tap() or tapPromise(), not ${tap.type} taps`);
}
