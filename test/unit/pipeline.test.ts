// The pipeline's rules: hooks run plugins in stage order on the way in and in reverse on the way back, Bail hooks
// take the first answer, and a plugin's error names the hook and the plugin and keeps its cause.
import * as assert from 'node:assert/strict';
import { Stage } from '../../src/pipeline/hooks';
import { Pipeline, PluginError, type PipelinePlugin } from '../../src/pipeline/pipeline';
import type { CheckpointContext, CommitContext, RestartContext } from '../../src/pipeline/types';

class Tracer implements PipelinePlugin {
  static readonly pluginName = 'Tracer';
  constructor(readonly label: string, readonly trace: string[], readonly stage = 0) {}
  apply(p: Pipeline): void {
    p.hooks.beforeCheckpoint.tapPromise({ name: this.label, stage: this.stage }, async () => void this.trace.push(`before:${this.label}`));
    p.hooks.afterCheckpoint.tapPromise({ name: this.label, stage: this.stage }, async () => void this.trace.push(`after:${this.label}`));
    p.hooks.afterCommit.tapPromise({ name: this.label, stage: this.stage }, async () => void this.trace.push(`commit:${this.label}`));
    p.hooks.beforeRestart.tapPromise({ name: this.label, stage: this.stage }, async () => void this.trace.push(`restart:${this.label}`));
  }
}

const ctx = {} as CheckpointContext;

describe('pipeline hooks', () => {
  it('runs checkpoint hooks in order and restart-side hooks in reverse, like unwinding layers', async () => {
    const trace: string[] = [];
    const p = new Pipeline([new Tracer('A', trace), new Tracer('B', trace), new Tracer('C', trace)]);
    await p.hooks.beforeCheckpoint.promise(ctx);
    await p.hooks.afterCheckpoint.promise(ctx, {} as never);
    await p.hooks.afterCommit.promise({} as CommitContext);
    await p.hooks.beforeRestart.promise({} as RestartContext);
    assert.deepEqual(trace, [
      'before:A', 'before:B', 'before:C',
      'after:C', 'after:B', 'after:A',
      'commit:C', 'commit:B', 'commit:A',
      'restart:C', 'restart:B', 'restart:A',
    ]);
  });

  it('orders by stage first, and reverses stages on the way back', async () => {
    const trace: string[] = [];
    const p = new Pipeline([new Tracer('late', trace, Stage.LAST), new Tracer('early', trace, Stage.FIRST), new Tracer('mid', trace)]);
    await p.hooks.beforeCheckpoint.promise(ctx);
    await p.hooks.afterCheckpoint.promise(ctx, {} as never);
    assert.deepEqual(trace, ['before:early', 'before:mid', 'before:late', 'after:late', 'after:mid', 'after:early']);
  });

  it('takes the first answer of a Bail hook', () => {
    const p = new Pipeline();
    const asked: string[] = [];
    p.hooks.selectCodec.tap('none-here', () => void asked.push('none-here'));
    p.hooks.selectCodec.tap('mine', (name) => (asked.push('mine'), name === 'x' ? ({ name: 'x' } as never) : undefined));
    p.hooks.selectCodec.tap('never', () => (asked.push('never'), undefined));
    assert.deepEqual(p.hooks.selectCodec.call('x', ctx), { name: 'x' });
    assert.deepEqual(asked, ['none-here', 'mine']);
  });

  it('wraps a plugin error with the hook and plugin name and keeps the cause', async () => {
    const p = new Pipeline();
    const cause = new Error('disk on fire');
    p.hooks.finishImage.tapPromise('Smoke', async () => {
      throw cause;
    });
    p.hooks.imagePath.tap('Sync', () => {
      throw new TypeError('bad path');
    });
    await assert.rejects(p.hooks.finishImage.promise(ctx), (e: unknown) =>
      e instanceof PluginError && e.message === 'plugin Smoke failed in finishImage: disk on fire' && e.cause === cause && e.hook === 'finishImage' && e.plugin === 'Smoke');
    assert.throws(() => p.hooks.imagePath.call('/x', ctx), /^PluginError: plugin Sync failed in imagePath: bad path$/);
  });

  it('refuses callback-style taps', () => {
    const p = new Pipeline();
    assert.throws(() => p.hooks.finishImage.tapAsync('Old', (_c: unknown, cb: () => void) => cb()), /^Error: plugin Old: finishImage accepts tap\(\) or tapPromise\(\), not async taps$/);
  });
});
