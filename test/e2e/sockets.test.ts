// socket-drain: connections between processes of the computation survive checkpoint and restart with no byte lost,
// reordered or duplicated (the programs check every byte themselves); listeners keep accepting; an epoll server
// keeps serving; a connection to a process outside the computation comes back closed.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Sandbox, sandboxPerTest, program, type Proc } from '../helpers/sandbox';
import { decodeSocketState, SockFlag, type SocketState } from '../../src/pipeline/socket-state';
import { ImageReader } from '../../src/pipeline/image-reader';
import { FdKind } from '../../src/protocol/constants';

/** Every socket record of every image, decoded. */
function socketsIn(images: string[]): SocketState[] {
  const out: SocketState[] = [];
  for (const file of images) {
    const r = ImageReader.open(file);
    try {
      for (const f of r.fds) {
        if (f.kind !== FdKind.SOCKET) continue;
        const s = decodeSocketState(f.data);
        if (s) out.push(s);
      }
    } finally {
      r.close();
    }
  }
  return out;
}

function blocksAfter(lines: string[]): number[] {
  return lines.map((l) => /^blocks (\d+)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
}

describe('sockets (socket-drain)', function () {
  this.timeout(120000);
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  async function checkpointKillRestart(expectImages: number, args: string[] = []): Promise<{ r: Proc; images: string[] }> {
    await sb.checkpoint();
    const images = sb.images();
    assert.equal(images.length, expectImages, `images: ${images.join(', ')}`);
    await sb.killComputation();
    return { r: sb.restart(images, { args }), images };
  }

  /** The streaming pair: blocks keep arriving intact after restart and the run completes. */
  async function streamingSurvives(mode: string): Promise<SocketState[]> {
    const p = sb.launch([program('sockstream'), mode, sb.path('addr')]);
    await p.waitFor(/^blocks 256$/, 60000);
    const { r, images } = await checkpointKillRestart(2);
    const done = await r.waitFor(/^client exit (\d+)$/, 90000);
    assert.equal(done[1], '0', r.output().join('\n'));
    const all = [...p.output(), ...r.output()];
    assert.ok(!all.some((l) => l.startsWith('CORRUPT')), all.filter((l) => l.startsWith('CORRUPT')).join('\n'));
    assert.ok(r.output().includes('done'), 'the server checked all 2048 blocks');
    const after = blocksAfter(r.output());
    assert.ok(after.length >= 2 && after[0] > 64, `the restarted server resumed mid-stream: ${after.slice(0, 3).join(',')}`);
    assert.equal((await r.exited).code, 0);
    return socketsIn(images);
  }

  it('a TCP client and server streaming 64 KiB blocks keep every byte in flight (checked byte for byte)', async () => {
    const socks = await streamingSurvives('tcp4');
    const conns = socks.filter((s) => s.flags & SockFlag.CONNECTED && s.family === 2);
    assert.equal(conns.length, 2, 'both ends of the connection are recorded');
    assert.ok(conns.every((s) => s.flags & SockFlag.INSIDE), 'both ends are inside the computation');
    assert.ok(conns.some((s) => s.drained > 0), `data was in flight and drained: ${conns.map((s) => s.drained).join(', ')}`);
    assert.ok(socks.some((s) => s.flags & SockFlag.LISTENING), 'the listener is recorded');
  });

  it('the same over IPv6 loopback', async () => {
    const socks = await streamingSurvives('tcp6');
    assert.ok(socks.some((s) => s.family === 10 && s.drained > 0));
  });

  it('the same over a Unix stream socket with a listener', async () => {
    const socks = await streamingSurvives('unix');
    assert.ok(socks.some((s) => s.family === 1 && s.flags & SockFlag.LISTENING && s.local.endsWith('sockstream.sock')));
  });

  it('the same over a socketpair shared through fork', async () => {
    await streamingSurvives('socketpair');
  });

  it('a datagram socketpair keeps its datagrams, boundaries and order', async () => {
    await streamingSurvives('dgrampair');
  });

  it('rebuilds the connection when the original port is taken at restart; the listener moves and says so', async () => {
    const p = sb.launch([program('sockstream'), 'tcp4', sb.path('addr')]);
    const port = Number((await p.waitFor(/^listening (\d+)$/))[1]);
    await p.waitFor(/^blocks 128$/, 60000);
    await sb.checkpoint();
    const images = sb.images();
    await sb.killComputation();
    const squatter = net.createServer();
    await new Promise<void>((resolve, reject) => squatter.once('error', reject).listen(port, '127.0.0.1', resolve));
    try {
      const r = sb.restart(images);
      const done = await r.waitFor(/^client exit (\d+)$/, 90000);
      assert.equal(done[1], '0');
      assert.ok(!r.output().some((l) => l.startsWith('CORRUPT')));
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is taken by another program; bound to 127\\.0\\.0\\.1:\\d+ instead`));
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('an epoll echo server with 50 open clients keeps serving, and accepts new clients after restart', async () => {
    const p = sb.launch([program('epollecho'), '50', '60', sb.path('port')]);
    await p.waitFor(/^new client ok round 10$/, 60000);
    const { r } = await checkpointKillRestart(2);
    const rounds = [];
    for (let i = 0; i < 3; i++) rounds.push(Number((await r.waitFor(/^round (\d+)$/, 60000))[1]));
    assert.ok(rounds[0] > 10, `resumed after round 10, at ${rounds[0]}`);
    for (let i = 1; i < rounds.length; i++) assert.equal(rounds[i], rounds[i - 1] + 1);
    const fresh = await r.waitFor(/^new client ok round (\d+)$/, 60000);
    assert.ok(Number(fresh[1]) > rounds[0] - 1, 'a client connected to the listener after restart');
    const end = await r.waitFor(/^client exit (\d+) echoed (\d+)$/, 90000);
    assert.equal(end[1], '0', [...r.output(), r.stderr].join('\n'));
    assert.ok(!r.output().some((l) => l.startsWith('BAD')));
  });

  it('a connection to a process outside the computation is named at checkpoint and reads end-of-file after restart', async () => {
    const outside = net.createServer((c) => {
      c.write('hello\n');
      c.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => outside.listen(0, '127.0.0.1', resolve));
    const port = (outside.address() as net.AddressInfo).port;
    try {
      const p = sb.launch([program('outsider'), String(port), '400']);
      await p.waitFor(/^got hello$/);
      await p.waitFor(/^tick 5$/);
      const { r } = await checkpointKillRestart(1);
      assert.match(p.stderr, new RegExp(`connection 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${port} leads outside the computation`));
      const closed = await r.waitFor(/^closed (\w+)$/, 30000);
      assert.equal(closed[1], 'EOF');
      const tick = Number((await r.waitFor(/^tick (\d+)$/))[1]);
      assert.ok(tick > 5, 'the program went on after the closed connection');
      await r.kill('SIGTERM');
    } finally {
      await new Promise((resolve) => outside.close(resolve));
    }
  });

  it('checkpoints twice without restart: drained bytes go back in order each time', async () => {
    const p = sb.launch([program('sockstream'), 'unix', sb.path('addr')]);
    await p.waitFor(/^blocks 128$/, 60000);
    await sb.checkpoint();
    await p.waitFor(/^blocks 384$/, 60000);
    await sb.checkpoint();
    const done = await p.waitFor(/^client exit (\d+)$/, 90000);
    assert.equal(done[1], '0');
    assert.ok(!p.output().some((l) => l.startsWith('CORRUPT')), p.output().join('\n'));
    assert.ok(fs.existsSync(sb.path('sockstream.sock')));
  });
});

describe('event descriptors: inotify', function () {
  this.timeout(120000);
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  it('an inotify watch served by epoll keeps its watch number and reports events after restart', async () => {
    const dir = sb.path('watched');
    fs.mkdirSync(dir);
    const p = sb.launch([program('watcher'), dir, '600']);
    const wd = (await p.waitFor(/^watching wd (\d+)$/))[1];
    assert.notEqual(wd, '1', 'the program left a gap in the watch numbers');
    fs.writeFileSync(path.join(dir, 'before'), '');
    await p.waitFor(new RegExp(`^event before wd ${wd}$`));
    await sb.checkpoint();
    const images = sb.images();
    await sb.killComputation();
    const r = sb.restart(images);
    await r.waitFor(/^tick \d+$/);
    fs.writeFileSync(path.join(dir, 'after'), '');
    await r.waitFor(new RegExp(`^event after wd ${wd}$`), 30000);
    await r.kill('SIGTERM');
  });
});
