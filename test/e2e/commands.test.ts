// Every interactive key of dmtcp_coordinator and every dmtcp_command flag does what it says, and periodic checkpoints
// (-i) appear on their own.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Msg, PROTO_VERSION, Tag } from '../../src/protocol/constants';
import { encodeFrame, FieldWriter, FrameDecoder, type Frame } from '../../src/protocol/frame';
import { Sandbox, sandboxPerTest, program } from '../helpers/sandbox';
import { until } from '../helpers/until';

describe('coordinator keys and dmtcp_command', () => {
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  it('interactive keys: h s l c i k q', async () => {
    const p = sb.launch([program('counter'), '50']);
    await p.waitFor(/^count 2$/);
    const coord = sb.coordinator!;
    sb.key('h');
    await coord.waitFor(/^  c : Checkpoint all processes$/);
    sb.key('s');
    await coord.waitFor(/^  NUM_PEERS=1$/);
    await coord.waitFor(/^  RUNNING=yes$/);
    sb.key('l');
    await coord.waitFor(new RegExp(`^1, counter\\[${p.pid}\\]@`));
    sb.key('c');
    await coord.waitFor(/^checkpoint 1 done \(\d+ ms\)$/);
    assert.equal(sb.images().length, 1);
    sb.key('i 7');
    await coord.waitFor(/^checkpoint interval: 7 s$/);
    sb.key('i');
    await coord.waitFor(/^checkpoint interval: 7 s$/);
    sb.key('x');
    await coord.waitFor(/^unknown key 'x'; type 'h' for help$/);
    sb.key('k');
    await coord.waitFor(/^killing 1 process\(es\)$/);
    const exit = await p.exited;
    assert.equal(exit.code, 0, 'the program ends when the coordinator kills it');
    const q = sb.launch([program('counter'), '50']);
    await q.waitFor(/^count 1$/);
    sb.key('q');
    await coord.exited;
    await q.exited;
  });

  it('flags -s -l --json', async () => {
    const p = sb.launch([program('counter'), '50']);
    await p.waitFor(/^count 1$/);
    const text = await sb.command('-s');
    assert.equal(text.code, 0);
    assert.match(text.stdout, new RegExp(`^Coordinator:\\n  Host: .+\\n  Port: ${sb.port}\\nStatus...\\n  NUM_PEERS=1\\n  RUNNING=yes\\n`));
    const s = JSON.parse((await sb.command('-s', '--json')).stdout) as Record<string, unknown>;
    assert.equal(s.numPeers, 1);
    assert.equal(s.state, 'RUNNING');
    assert.equal(s.port, sb.port);
    const l = JSON.parse((await sb.command('-l', '--json')).stdout) as { pid: number; program: string; state: string; argv: string[] }[];
    assert.equal(l.length, 1);
    assert.equal(l[0].pid, p.pid);
    assert.equal(l[0].program, 'counter');
    assert.equal(l[0].state, 'RUNNING');
    assert.deepEqual(l[0].argv.slice(1), ['50']);
    assert.match((await sb.command('-l')).stdout, new RegExp(`^Client List:\\n#, PROG\\[PID\\]@HOST, DMTCP-UNIQUEPID, STATE\\n1, counter\\[${p.pid}\\]@`));
  });

  it('flags -c and -bc: a started checkpoint and one that returns with images on disk', async () => {
    const p = sb.launch([program('counter'), '50']);
    await p.waitFor(/^count 1$/);
    const c = await sb.command('-c', '--json');
    assert.equal(c.code, 0);
    assert.deepEqual(JSON.parse(c.stdout), { started: true, generation: 1 });
    await until('the first image', () => sb.images().length === 1 || undefined);
    await until('checkpoint 1 to finish', async () => (JSON.parse((await sb.command('-s', '--json')).stdout) as { state: string }).state === 'RUNNING' || undefined);
    const bc = await sb.command('-bc', '--json');
    assert.equal(bc.code, 0, bc.stderr);
    const o = JSON.parse(bc.stdout) as { ok: boolean; generation: number; images: { path: string; bytes: number }[]; restartScript: string };
    assert.equal(o.ok, true);
    assert.equal(o.generation, 2);
    assert.equal(o.images.length, 1);
    assert.equal(fs.statSync(o.images[0].path).size, o.images[0].bytes, 'the image is complete on disk when -bc returns');
    assert.ok(fs.existsSync(o.restartScript));
    assert.match((await sb.command('-bc')).stdout, /^checkpoint 3 done: 1 image\(s\) in \d+ ms\n$/);
    assert.ok(p.alive);
  });

  it('flag -kc checkpoints then kills', async () => {
    const p = sb.launch([program('counter'), '50']);
    await p.waitFor(/^count 1$/);
    const r = await sb.command('-kc');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sb.images().length, 1);
    assert.equal((await p.exited).code, 0);
  });

  it('flags -k, -i and -q', async () => {
    const a = sb.launch([program('counter'), '50']);
    await a.waitFor(/^count 1$/);
    assert.deepEqual(JSON.parse((await sb.command('-i', '3', '--json')).stdout), { interval: 3 });
    assert.equal((JSON.parse((await sb.command('-s', '--json')).stdout) as { interval: number }).interval, 3);
    assert.deepEqual(JSON.parse((await sb.command('-k', '--json')).stdout), { killed: 1 });
    await a.exited;
    const b = sb.launch([program('counter'), '50']);
    await b.waitFor(/^count 1$/);
    const q = await sb.command('-q');
    assert.equal(q.code, 0);
    await b.exited;
    await sb.coordinator!.exited;
  });

  it('reports mistakes in one line', async () => {
    const none = await sb.command();
    assert.equal(none.code, 2);
    assert.equal(none.stderr, 'dmtcp_command: no command given; try -s, -l, -c, -bc, -k, -q or -i N (see --help)\n');
    const two = await sb.command('-s', '-l');
    assert.equal(two.stderr, 'dmtcp_command: give one command, not --status and --list\n');
    const empty = await sb.command('-c');
    assert.equal(empty.code, 1);
    assert.equal(empty.stderr, 'dmtcp_command: no processes are connected to this coordinator\n');
    const nowhere = await sb.tool('dmtcp_command', ['-p', '1', '-s']);
    assert.equal(nowhere.code, 4);
    assert.match(nowhere.stderr, /^dmtcp_command: no coordinator at 127\.0\.0\.1:1 \(ECONNREFUSED\); start one with dmtcp_coordinator/);
  });

  it('checkpoints periodically with -i', async () => {
    const p = sb.launch([program('counter'), '50'], { args: ['-i', '1'] });
    await p.waitFor(/^count 1$/);
    const s = await until('two interval checkpoints', async () => {
      const st = JSON.parse((await sb.command('-s', '--json')).stdout) as { generation: number; interval: number };
      return st.generation >= 2 ? st : undefined;
    }, 30000);
    assert.equal(s.interval, 1);
    assert.equal(sb.images().length, 1, 'without unique filenames each generation replaces the image');
  });
});

describe('dmtcp_launch', () => {
  let sb: Sandbox;
  beforeEach(() => (sb = Sandbox.create()));
  afterEach(() => sb.cleanup());

  it('starts a coordinator in the background when none runs, and --port-file says where', async () => {
    const portFile = sb.path('auto.port');
    const p = sb.launch([program('counter'), '50'], { args: ['--port-file', portFile], port: 0, join: false });
    await p.waitFor(/^count 1$/);
    const port = Number(fs.readFileSync(portFile, 'utf8'));
    const s = JSON.parse((await sb.tool('dmtcp_command', ['-p', String(port), '-s', '--json'])).stdout) as { numPeers: number; pid: number; exitOnLast: boolean };
    sb.adopt(s.pid);
    assert.equal(s.numPeers, 1);
    assert.equal(s.exitOnLast, true);
  });

  it('refuses what it cannot run, in one line', async () => {
    await sb.startCoordinator();
    const missing = await sb.tool('dmtcp_launch', ['-p', String(sb.port), '-j', 'no-such-program-here']);
    assert.equal(missing.code, 127);
    assert.equal(missing.stderr, 'dmtcp_launch: no-such-program-here: command not found in PATH\n');
    const staticFile = sb.path('static');
    fs.copyFileSync(program('counter'), staticFile);
    const b = fs.readFileSync(staticFile);
    const phoff = Number(b.readBigUInt64LE(32));
    for (let i = 0; i < b.readUInt16LE(56); i++) {
      const at = phoff + i * b.readUInt16LE(54);
      if (b.readUInt32LE(at) === 3) b.writeUInt32LE(0x6474e551, at);   // hide PT_INTERP: looks statically linked
    }
    fs.writeFileSync(staticFile, b, { mode: 0o755 });
    const st = await sb.tool('dmtcp_launch', ['-p', String(sb.port), '-j', staticFile]);
    assert.equal(st.code, 126);
    assert.equal(st.stderr, `dmtcp_launch: ${staticFile} is statically linked; dmtcp_launch can only checkpoint dynamically linked programs\n`);
    const noCoord = await sb.tool('dmtcp_launch', ['-p', '1', '-j', program('counter')]);
    assert.equal(noCoord.code, 4);
    assert.equal(noCoord.stderr, 'dmtcp_launch: no coordinator at 127.0.0.1:1 (-j/--join-coordinator); start one with dmtcp_coordinator or drop -j\n');
    const busy = await sb.tool('dmtcp_launch', ['-p', String(sb.port), '--new-coordinator', program('counter')]);
    assert.equal(busy.code, 4);
    assert.match(busy.stderr, /^dmtcp_launch: a coordinator already runs at 127\.0\.0\.1:\d+ \(--new-coordinator\); join it with -j or choose another -p PORT\n$/);
  });

  it('refuses a service that is not a coordinator', async () => {
    const net = await import('node:net');
    const server = net.createServer((s) => s.end('HTTP/1.0 400 Bad Request\r\n\r\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await sb.tool('dmtcp_launch', ['-p', String(port), '-j', program('counter')]);
      assert.equal(r.code, 4);
      assert.match(r.stderr, new RegExp(`^dmtcp_launch: the service at 127\\.0\\.0\\.1:${port} is not a dmtcp-ts coordinator \\(bad magic .*\\); use another -p PORT\\n$`));
    } finally {
      server.close();
    }
  });
});

/** One process as the coordinator sees it, speaking the protocol by hand: HELLO_WORKER, UPDATE, BARRIER/REACHED. */
class HandWorker {
  private readonly frames: Frame[] = [];
  private readonly decoder = new FrameDecoder();
  private wake = () => undefined as void;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d) => {
      this.frames.push(...this.decoder.push(d));
      this.wake();
    });
    sock.on('error', () => undefined);
  }

  /** Connects as process `pid` (a process keeps its pid across exec) and waits for WELCOME. */
  static async hello(port: number, pid: number): Promise<HandWorker> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const w = new HandWorker(sock);
    w.send(Msg.HELLO_WORKER, new FieldWriter().u32(Tag.PROTOCOL_VERSION, PROTO_VERSION).u32(Tag.PID, pid).u32(Tag.VPID, pid)
      .str(Tag.HOST, 'handhost').str(Tag.PROGRAM, 'hand').str(Tag.WORKER_ID, `hand-${pid}-${Date.now()}`).str(Tag.STATE, 'RUNNING'));
    await w.next(Msg.WELCOME);
    return w;
  }

  send(type: number, fields: FieldWriter): void {
    this.sock.write(encodeFrame(type, fields));
  }

  /** The next frame of `type` from the coordinator (frames of other types before it are dropped). */
  async next(type: number, timeoutMs = 20000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((f) => f.type === type);
      if (i >= 0) return this.frames.splice(0, i + 1)[i];
      if (Date.now() > deadline) throw new Error(`no message ${type} from the coordinator within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

describe('coordinator robustness and options', () => {
  let sb: Sandbox;
  beforeEach(() => (sb = Sandbox.create()));
  afterEach(() => sb.cleanup());

  it('logs and drops malformed and wrong-version peers, and keeps serving', async () => {
    await sb.startCoordinator();
    const talk = (bytes: Buffer) => new Promise<Buffer>((resolve) => {
      const s = net.connect(sb.port, '127.0.0.1', () => s.write(bytes));
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('close', () => resolve(Buffer.concat(got)));
      s.on('error', () => resolve(Buffer.concat(got)));
    });
    await talk(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    const wrong = Buffer.alloc(16);
    wrong.writeUInt32LE(0x50544d44, 0);
    wrong.writeUInt16LE(7, 4);
    wrong.writeUInt16LE(2, 6);
    const answer = await talk(wrong);
    assert.equal(answer.readUInt16LE(6), 4, 'a REJECT comes back');
    assert.match(answer.toString('latin1'), /protocol version 7 is not supported \(this side speaks version 1\)/);
    assert.match(sb.coordinator!.stderr, /rejected connection \d+ from 127\.0\.0\.1:\d+: bad magic 0x20544547 \(expected "DMTP"\); not a dmtcp peer\?/);
    assert.match(sb.coordinator!.stderr, /rejected connection \d+ from 127\.0\.0\.1:\d+: protocol version 7 is not supported/);
    const s = await sb.command('-s', '--json');
    assert.equal(s.code, 0, 'still serving');
  });

  it('a process back from exec stays in its computation and in the checkpoint, whichever connection is heard first', async () => {
    await sb.startCoordinator();
    const status = async () => JSON.parse((await sb.command('-s', '--json')).stdout) as { computation: string };
    const execs = () => sb.coordinator!.stderr.match(/exec: hand\[4242\]/g)?.length ?? 0;
    // The old image's connection ends before the new image says HELLO: the computation goes on.
    const first = await HandWorker.hello(sb.port, 4242);
    const computation = (await status()).computation;
    first.send(Msg.UPDATE, new FieldWriter().str(Tag.STATE, 'EXEC'));
    first.close();
    await until('the coordinator to see the exec', () => execs() === 1 || undefined);
    const second = await HandWorker.hello(sb.port, 4242);
    assert.equal((await status()).computation, computation, 'the exec\'d image is in the computation it left');
    // The new image says HELLO before the old connection's end is seen: nothing is left waiting for it.
    second.send(Msg.UPDATE, new FieldWriter().str(Tag.STATE, 'EXEC'));
    const third = await HandWorker.hello(sb.port, 4242);
    second.close();
    await until('the coordinator to see the second exec', () => execs() === 2 || undefined);
    const c = await sb.command('-c');
    assert.equal(c.code, 0, c.stderr);
    const suspend = await third.next(Msg.BARRIER);
    assert.equal(suspend.fields.str(Tag.STATE), 'SUSPENDED');
    third.send(Msg.REACHED, new FieldWriter().str(Tag.STATE, 'SUSPENDED').u32(Tag.GENERATION, 1));
    const drain = await third.next(Msg.BARRIER);
    assert.equal(drain.fields.str(Tag.STATE), 'DRAINED');
    // Had the coordinator waited for an exec already over, DRAINED would have come only after it gave up on it.
    assert.doesNotMatch(sb.coordinator!.stderr, /did not join again/);
    assert.equal((await status()).computation, computation);
    third.close();
  });

  it('--daemon returns once listening, --exit-on-last ends it with its last process', async () => {
    const portFile = sb.path('daemon.port');
    // Whatever the daemon's start-up puts in the temporary directory is gone once it listens.
    const tmp = sb.path('daemon-tmp');
    fs.mkdirSync(tmp);
    const r = await sb.tool('dmtcp_coordinator', ['--daemon', '--exit-on-last', '-p', '0', '--port-file', portFile, '--ckptdir', sb.dir], { ...process.env, TMPDIR: tmp });
    assert.equal(r.code, 0, r.stderr);
    const port = Number(fs.readFileSync(portFile, 'utf8'));
    const st = JSON.parse((await sb.tool('dmtcp_command', ['-p', String(port), '-s', '--json'])).stdout) as { pid: number; exitOnLast: boolean };
    sb.adopt(st.pid);
    assert.deepEqual(fs.readdirSync(tmp), []);
    assert.equal(st.exitOnLast, true);
    const p = sb.launch([program('counter'), '20', '3'], { port });
    assert.equal((await p.exited).code, 0);
    await until('the daemon to exit', () => {
      try {
        process.kill(st.pid, 0);
        return undefined;
      } catch {
        return true;
      }
    });
  });

  it('--daemon -p 0 without --port-file prints the port it took and leaves nothing in the temporary directory', async () => {
    const tmp = sb.path('daemon-tmp');
    fs.mkdirSync(tmp);
    const r = await sb.tool('dmtcp_coordinator', ['--daemon', '-p', '0', '--ckptdir', sb.dir], { ...process.env, TMPDIR: tmp });
    assert.equal(r.code, 0, r.stderr);
    const port = Number(/^Port: (\d+)$/m.exec(r.stdout)?.[1]);
    assert.ok(port > 0, r.stdout);
    const st = JSON.parse((await sb.tool('dmtcp_command', ['-p', String(port), '-s', '--json'])).stdout) as { pid: number };
    sb.adopt(st.pid);
    assert.deepEqual(fs.readdirSync(tmp), []);
    assert.equal((await sb.tool('dmtcp_command', ['-p', String(port), '-q'])).code, 0);
  });

  it('reads DMTCP_PORT, DMTCP_CHECKPOINT_INTERVAL and DMTCP_CHECKPOINT_DIR', async () => {
    await sb.startCoordinator();
    const dir = sb.path('env-images');
    const q = sb.spawnWith('dmtcp_launch', ['-j', program('counter'), '50'], { DMTCP_PORT: String(sb.port), DMTCP_CHECKPOINT_INTERVAL: '1', DMTCP_CHECKPOINT_DIR: dir });
    await q.waitFor(/^count 1$/);
    await until('an interval checkpoint in DMTCP_CHECKPOINT_DIR', () => (fs.existsSync(dir) && sb.images(dir).length === 1) || undefined, 30000);
  });

  it('checkpoints with another signal (--ckpt-signal 10) and restarts', async () => {
    await sb.startCoordinator();
    const p = sb.launch([program('counter'), '50'], { args: ['--ckpt-signal', '10'] });
    await p.waitFor(/^count 2$/);
    await sb.checkpoint();
    await p.kill();
    const r = sb.restart(sb.images());
    await r.waitFor(/^count \d+$/);
    await r.waitFor(/^count \d+$/);
  });
});
