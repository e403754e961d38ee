// The TypeScript API used from a Node program running under dmtcp_launch: it knows it is enabled, reads the status
// and process list, and asks for a checkpoint of itself.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../src/paths';
import { Sandbox, sandboxPerTest } from '../helpers/sandbox';

describe('the TypeScript API from a Node program', () => {
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  it('checkpoints itself and reads the coordinator', async () => {
    const script = sb.path('self.js');
    fs.writeFileSync(script, `
      const { Dmtcp } = require(${JSON.stringify(packageRoot)});
      (async () => {
        console.log('enabled ' + Dmtcp.isEnabled());
        const d = await Dmtcp.connect();
        const s = await d.status();
        console.log('peers ' + s.numPeers + ' state ' + s.state);
        const [me] = await d.list();
        console.log('listed ' + (me.pid === process.pid));
        console.log('result ' + await d.checkpoint());
        console.log('generation ' + (await d.status()).generation);
        d.close();
      })().catch((e) => { console.log('error ' + e.message); process.exit(1); });
    `);
    const p = sb.launch([process.execPath, script]);
    await p.waitFor(/^enabled true$/);
    await p.waitFor(/^peers 1 state RUNNING$/);
    await p.waitFor(/^listed true$/);
    await p.waitFor(/^result after-checkpoint$/);
    await p.waitFor(/^generation 1$/);
    assert.equal((await p.exited).code, 0);
    assert.equal(sb.images().length, 1);
    assert.match(path.basename(sb.images()[0]), /^ckpt_node_/);
  });
});
