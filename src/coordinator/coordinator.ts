// The coordinator: registers processes, runs every checkpoint as a sequence of named barriers that all processes
// pass together (SUSPENDED, DRAINED, CHECKPOINTED, REFILLED, RUNNING), commits the images of a generation only when
// all of them are complete, and brings restarted processes back through the same barriers.
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Msg, PROTO_VERSION, Tag } from '../protocol/constants';
import { FieldWriter, ProtocolError, type Frame } from '../protocol/frame';
import { ImageService } from '../pipeline/image-service';
import type { Pipeline } from '../pipeline/pipeline';
import type { CommitContext } from '../pipeline/types';
import { Peer, type WorkerInfo } from './peer';
import { ProgressPlugin } from '../plugins/progress';
import { reportProgress } from './progress';

export const BARRIERS = ['SUSPENDED', 'DRAINED', 'CHECKPOINTED', 'REFILLED', 'RUNNING'] as const;
/** A restart round: sockets take their addresses back, publish fresh ones for their connections, connect to the
 *  ones they look up, then put drained bytes back. */
export const RESTART_BARRIERS = ['REBOUND', 'PUBLISHED', 'RECONNECTED', 'REFILLED', 'RUNNING'] as const;
export type Barrier = (typeof BARRIERS)[number] | (typeof RESTART_BARRIERS)[number];

export interface CoordinatorOptions {
  port: number;
  /** Address to listen on; all interfaces by default, like DMTCP. */
  bind?: string;
  /** --ckptdir: where images of processes that named no directory go, and where the restart script goes. */
  ckptDir?: string;
  interval?: number;
  exitOnLast?: boolean;
  tmpDir?: string;
  pipeline: Pipeline;
  log?: (line: string) => void;
  /** Called when the coordinator wants the process to end (q, exit-on-last). */
  onExit?: (code: number) => void;
}

export interface CheckpointOutcome {
  ok: boolean;
  generation: number;
  images: { path: string; bytes: number; program: string; pid: number; host: string }[];
  restartScript?: string;
  elapsedMs: number;
  errors: string[];
}

interface Round {
  kind: 'checkpoint' | 'restart';
  /** The barriers of this kind of round, in order; `index` points into them. */
  states: readonly Barrier[];
  /** Marks the end of the data drained from each socket (sent with DRAINED): random, so no program's data matches. */
  nonce: Buffer;
  generation: number;
  participants: Set<Peer>;
  reached: Set<Peer>;
  index: number;
  errors: string[];
  startedAt: number;
  waiters: ((o: CheckpointOutcome) => void)[];
  killAfter: boolean;
  commit?: CommitContext;
  /** True once every participant passed SUSPENDED: a process lost after that makes the checkpoint fail. */
  suspended: boolean;
}

/** How long a process that closed its connection to exec may take to join again before it counts as gone. */
const EXEC_REJOIN_MS = 5000;

/** After this long, a restart still waiting for some of its processes is reported in the log. */
const RESTART_QUIET_S = 10;

interface Restarting {
  computation: string;
  generation: number;
  expected: number;
  peers: Set<Peer>;
}

export class Coordinator {
  private server?: net.Server;
  private readonly peers = new Set<Peer>();
  private serial = 0;
  private round?: Round;
  private restarting?: Restarting;
  private computation = '';
  private generation = 0;
  private everHadWorkers = false;
  private intervalTimer?: NodeJS.Timeout;
  private intervalSeconds: number;
  private images?: ImageService;
  private lastOutcome?: CheckpointOutcome;
  private stopping = false;
  port = 0;

  /** Page bytes the image service has encoded, counted by hook interceptors, for PROGRESS frames. */
  private readonly progress = new ProgressPlugin();

  constructor(private readonly opts: CoordinatorOptions) {
    this.intervalSeconds = opts.interval ?? 0;
    opts.pipeline.use(this.progress);
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  get workers(): WorkerInfo[] {
    return [...this.peers].filter((p) => p.worker).map((p) => p.worker!);
  }

  async start(): Promise<number> {
    this.server = net.createServer((sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen({ port: this.opts.port, host: this.opts.bind }, () => {
        this.server!.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
    const tmp = this.opts.tmpDir ?? os.tmpdir();
    this.images = new ImageService(this.opts.pipeline, {
      socketPath: path.join(tmp, `dmtcp-${uid}`, `c${this.port}-${process.pid}.sock`),
      defaultCkptDir: this.opts.ckptDir,
      log: (m) => this.log(m),
    });
    await this.images.listen();
    // The codec threads start now, not at the first checkpoint, which would wait for them with every process frozen.
    this.opts.pipeline.workers();
    this.setInterval(this.intervalSeconds);
    return this.port;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.intervalTimer) clearInterval(this.intervalTimer);
    for (const p of this.peers) p.close();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.images?.close();
    await this.opts.pipeline.close();
  }

  private accept(sock: net.Socket): void {
    sock.setNoDelay(true);
    const peer = new Peer(sock, ++this.serial);
    this.peers.add(peer);
    sock.on('data', (chunk: Buffer) =>
      peer.receive(chunk, (f) => this.dispatch(peer, f), (reason) => this.log(`rejected ${peer.label}: ${reason}`)),
    );
    sock.on('error', () => undefined);
    sock.on('close', () => this.disconnected(peer));
  }

  private dispatch(peer: Peer, f: Frame): void {
    if (peer.kind === 'unknown') {
      if (f.type === Msg.HELLO_WORKER) return this.helloWorker(peer, f);
      if (f.type === Msg.HELLO_CLIENT) return this.helloClient(peer, f);
      throw new ProtocolError(`expected a HELLO, got message type ${f.type}`);
    }
    if (peer.kind === 'worker') {
      if (f.type === Msg.REACHED) return this.reached(peer, f);
      if (f.type === Msg.UPDATE) return this.updated(peer, f);
      if (f.type === Msg.NS_PUBLISH) return this.publish(peer, f);
      if (f.type === Msg.NS_LOOKUP) return this.lookup(peer, f);
      throw new ProtocolError(`a worker may not send message type ${f.type}`);
    }
    if (f.type === Msg.COMMAND) return this.command(peer, f);
    throw new ProtocolError(`a client may not send message type ${f.type}`);
  }

  // ---- registration ----

  private helloClient(peer: Peer, f: Frame): void {
    peer.kind = 'client';
    peer.clientName = f.fields.str(Tag.CLIENT) ?? 'client';
    peer.send(Msg.WELCOME, new FieldWriter().u32(Tag.PROTOCOL_VERSION, PROTO_VERSION).str(Tag.COMPUTATION, this.computation), f.seq);
  }

  private helloWorker(peer: Peer, f: Frame): void {
    const fl = f.fields;
    const restart = fl.u32(Tag.RESTART) === 1;
    const comp = fl.str(Tag.COMPUTATION) ?? '';
    const w: WorkerInfo = {
      id: fl.str(Tag.WORKER_ID) ?? `unknown-${peer.serial}`,
      pid: fl.u32(Tag.PID) ?? 0,
      vpid: fl.u32(Tag.VPID) ?? fl.u32(Tag.PID) ?? 0,
      ppid: fl.u32(Tag.PPID) ?? 0,
      host: fl.str(Tag.HOST) ?? '?',
      program: fl.str(Tag.PROGRAM) ?? '?',
      argv: fl.list(Tag.ARGV) ?? [],
      state: restart ? 'RESTARTING' : 'RUNNING',
      generation: fl.u32(Tag.GENERATION) ?? 0,
      restarted: restart,
      computation: comp,
      ckptDir: fl.str(Tag.CKPT_DIR) ?? '',
      joinedAt: Date.now(),
      image: fl.str(Tag.IMAGE),
    };
    if (restart) {
      const refusal = this.admitRestart(peer, w, fl.u32(Tag.NPROCS) ?? 1);
      if (refusal) {
        peer.send(Msg.REJECT, new FieldWriter().str(Tag.REASON, refusal), f.seq);
        this.log(`refused restarted ${w.program}[${w.pid}]: ${refusal}`);
        peer.close();
        return;
      }
    } else if (!this.computation || (this.workers.length === 0 && !this.restarting && this.execing.size === 0)) {
      // A first process: a new computation (a process back from exec is still in the one it left).
      this.computation = newComputationId();
      this.generation = 0;
    }
    peer.kind = 'worker';
    peer.worker = { ...w, computation: this.computation };
    this.everHadWorkers = true;
    const welcome = new FieldWriter()
      .u32(Tag.PROTOCOL_VERSION, PROTO_VERSION)
      .str(Tag.COMPUTATION, this.computation)
      .u32(Tag.GENERATION, this.generation);
    if (this.opts.ckptDir) welcome.str(Tag.CKPT_DIR, this.opts.ckptDir);
    peer.send(Msg.WELCOME, welcome, f.seq);
    this.log(restart ? `restarted: ${peer.label} as pid ${w.vpid} (${w.id})` : `joined: ${peer.label} (${w.id})`);
    if (restart) {
      this.maybeFinishRestart();
    } else {
      this.execArrived(w.pid);
      this.joinRoundUnderWay(peer);
    }
  }

  /** A restarted process may join a coordinator that is idle or already restarting the same computation. */
  private admitRestart(peer: Peer, w: WorkerInfo, nprocs: number): string | undefined {
    const live = [...this.peers].filter((p) => p.worker && !this.restarting?.peers.has(p));
    if (this.restarting) {
      if (this.restarting.computation !== w.computation) {
        return `this coordinator is restarting computation ${this.restarting.computation}; use another port (dmtcp_restart -p PORT) or --new-coordinator`;
      }
    } else {
      if (live.length > 0 && this.computation !== w.computation) {
        return `this coordinator already runs computation ${this.computation} with ${live.length} process(es); restart with --new-coordinator or another -p PORT`;
      }
      if (this.round) return 'a checkpoint is in progress; retry when it finishes';
      const restarting = { computation: w.computation, generation: w.generation, expected: Math.max(1, nprocs), peers: new Set<Peer>() };
      this.restarting = restarting;
      this.computation = w.computation;
      // A process of the restart that dies before it joins leaves the others waiting; say so in the log.
      setTimeout(() => {
        if (this.restarting !== restarting) return;
        const joined = [...restarting.peers].map((p) => p.label).join(', ');
        this.log(`restart of ${restarting.computation}: ${restarting.peers.size} of ${restarting.expected} process(es) joined after ${RESTART_QUIET_S} s (${joined}); the others may have died while being restored`);
      }, RESTART_QUIET_S * 1000).unref();
    }
    this.restarting.peers.add(peer);
    this.generation = Math.max(this.generation, w.generation);
    return undefined;
  }

  private maybeFinishRestart(): void {
    const r = this.restarting;
    if (!r || r.peers.size < r.expected || this.round) return;
    this.restarting = undefined;
    this.round = {
      kind: 'restart',
      states: RESTART_BARRIERS,
      nonce: Buffer.alloc(8),
      generation: r.generation,
      participants: new Set(r.peers),
      reached: new Set(),
      index: 0,
      errors: [],
      startedAt: Date.now(),
      waiters: [],
      killAfter: false,
      suspended: true,
    };
    this.names.clear();
    this.log(`all ${r.expected} restarted process(es) joined; resuming generation ${r.generation}`);
    this.broadcastBarrier();
  }

  // ---- name service: restarted processes publish fresh addresses, then look up their peers' ----

  /** Names published in the current restart round, cleared when the next one begins. */
  private readonly names = new Map<string, Buffer>();

  private publish(peer: Peer, f: Frame): void {
    for (const [key, value] of decodeNames(f.fields.raw(Tag.NAMES))) this.names.set(key, value);
  }

  private lookup(peer: Peer, f: Frame): void {
    const answer = decodeNames(f.fields.raw(Tag.NAMES)).map(([key]) => [key, this.names.get(key) ?? Buffer.alloc(0)] as const);
    peer.send(Msg.NS_ANSWER, new FieldWriter().bytes(Tag.NAMES, encodeNames(answer)), f.seq);
  }

  private updated(peer: Peer, f: Frame): void {
    const program = f.fields.str(Tag.PROGRAM);
    if (program && peer.worker) peer.worker.program = program;
    const state = f.fields.str(Tag.STATE);
    if (state === 'EXEC') peer.execing = true;
    else if (state === 'RUNNING') peer.execing = false;   // the exec failed; the process carries on
  }

  /** Processes between exec and their new image's HELLO, by pid: a checkpoint does not stop the others meanwhile. */
  private readonly execing = new Map<number, NodeJS.Timeout>();

  private execLeft(peer: Peer, w: WorkerInfo): void {
    // The new image's HELLO may come before the old connection's end is seen (two sockets, no order between them):
    // then it is back already, and waiting for it would hold the next checkpoint for EXEC_REJOIN_MS.
    if ([...this.peers].some((p) => p.worker?.pid === w.pid && p.worker.host === w.host)) return;
    clearTimeout(this.execing.get(w.pid));
    const timer = setTimeout(() => {
      if (this.execing.get(w.pid) !== timer) return;   // back since, or leaving again by a later exec
      this.execing.delete(w.pid);
      this.log(`${peer.label} did not join again within ${EXEC_REJOIN_MS} ms of its exec: gone`);
      void this.advance();
      this.exitIfLast();
    }, EXEC_REJOIN_MS);
    timer.unref();
    this.execing.set(w.pid, timer);
  }

  private execArrived(pid: number): void {
    const timer = this.execing.get(pid);
    if (!timer) return;
    clearTimeout(timer);
    this.execing.delete(pid);
  }

  private disconnected(peer: Peer): void {
    this.peers.delete(peer);
    const w = peer.worker;
    if (!w) return;
    if (peer.execing && !this.stopping) {
      this.execLeft(peer, w);
      this.log(`exec: ${peer.label}`);
    } else if (!this.stopping) {
      this.log(`exited: ${peer.label}`);
    }
    if (this.restarting?.peers.delete(peer) && this.restarting.peers.size === 0) this.restarting = undefined;
    const r = this.round;
    if (r && r.participants.has(peer)) {
      r.participants.delete(peer);
      r.reached.delete(peer);
      if (r.suspended && r.kind === 'checkpoint' && r.index <= BARRIERS.indexOf('CHECKPOINTED')) {
        r.errors.push(`${peer.label} was lost during the checkpoint`);
      }
      void this.advance();
    }
    this.exitIfLast();
  }

  private exitIfLast(): void {
    if (this.workers.length > 0 || this.execing.size > 0) return;
    if (!this.round && this.everHadWorkers && this.opts.exitOnLast && !this.restarting) {
      this.log('last process exited (--exit-on-last): coordinator exiting');
      this.opts.onExit?.(0);
    }
  }

  // ---- barriers ----

  private broadcastBarrier(): void {
    const r = this.round!;
    const state = r.states[r.index];
    if (process.env.DMTCP_TRACE) process.stderr.write(`[trace ${Date.now() % 100000}] barrier ${state} (+${Date.now() - r.startedAt} ms)\n`);
    r.reached.clear();
    for (const p of r.participants) p.send(Msg.BARRIER, this.barrierFields(r));
    if (r.participants.size === 0) void this.advance();
  }

  private barrierFields(r: Round): FieldWriter {
    const state = r.states[r.index];
    const w = new FieldWriter().str(Tag.STATE, state).u32(Tag.GENERATION, r.generation);
    // DRAINED: processes compare descriptors with kcmp, and mark the end of each socket's data with the nonce.
    // REBOUND (the first barrier of a restart): each learns the others' new pids.
    if (state === 'DRAINED' || state === 'REBOUND') w.bytes(Tag.PIDS, pidPairs(r.participants));
    if (state === 'DRAINED') w.bytes(Tag.NONCE, r.nonce);
    if (state === 'CHECKPOINTED') {
      w.str(Tag.STREAM_SOCKET, this.images!.socketPath).u32(Tag.SERVICE_PID, process.pid);
      if (this.opts.ckptDir) w.str(Tag.CKPT_DIR, this.opts.ckptDir);
    }
    return w;
  }

  /**
   * A process that joins while a checkpoint is still stopping processes is stopped and checkpointed with them: it is
   * a child its parent forked before being stopped (the parent lets no checkpoint in until its child registered).
   */
  private joinRoundUnderWay(peer: Peer): void {
    const r = this.round;
    if (!r || r.kind !== 'checkpoint' || r.states[r.index] !== 'SUSPENDED') return;
    r.participants.add(peer);
    peer.send(Msg.BARRIER, this.barrierFields(r));
    this.log(`${peer.label} joined checkpoint ${r.generation} while processes were being stopped`);
  }

  private reached(peer: Peer, f: Frame): void {
    const r = this.round;
    const state = f.fields.str(Tag.STATE) ?? '';
    if (!r || !r.participants.has(peer)) {
      this.log(`ignored ${state} from ${peer.label}: it is not part of a barrier`);
      return;
    }
    const expected = r.states[r.index];
    if (state !== expected) {
      this.log(`ignored ${state} from ${peer.label}: waiting for ${expected}`);
      return;
    }
    peer.worker!.state = state;
    const reason = f.fields.str(Tag.REASON);
    if (reason) r.errors.push(`${peer.label}: ${reason}`);
    if (state === 'CHECKPOINTED' && !reason) {
      peer.worker!.image = f.fields.str(Tag.IMAGE);
      peer.worker!.imageBytes = Number(f.fields.u64(Tag.IMAGE_BYTES) ?? 0n);
    }
    r.reached.add(peer);
    void this.advance();
  }

  private advancing = false;

  /** Moves the round to its next barrier once every participant reached the current one. */
  private async advance(): Promise<void> {
    const r = this.round;
    if (!r || this.advancing || r.reached.size < r.participants.size) return;
    // A process in the middle of exec joins again with its new image and is stopped with the others.
    if (r.kind === 'checkpoint' && r.states[r.index] === 'SUSPENDED' && this.execing.size > 0) return;
    this.advancing = true;
    try {
      const state = r.states[r.index];
      if (state === 'SUSPENDED') r.suspended = true;
      let next = r.index + 1;
      if (r.kind === 'checkpoint') {
        if (state === 'SUSPENDED' && r.errors.length) next = BARRIERS.indexOf('RUNNING');
        if (state === 'DRAINED' && r.errors.length) next = BARRIERS.indexOf('REFILLED');
        if (state === 'CHECKPOINTED') await this.settleImages(r);
      }
      if (next >= r.states.length) {
        this.finishRound(r);
        return;
      }
      r.index = next;
      this.broadcastBarrier();
    } finally {
      this.advancing = false;
    }
    // Everyone (possibly no one, when every process was lost) may already be past the barrier just announced.
    if (this.round === r && r.reached.size >= r.participants.size) void this.advance();
  }

  /** All processes are past CHECKPOINTED: make the generation durable, or drop it if anything failed. */
  private async settleImages(r: Round): Promise<void> {
    const images = this.images!;
    if (r.errors.length === 0 && r.participants.size > 0) {
      try {
        r.commit = await images.commit(r.generation, {
          computation: this.computation,
          scriptDir: this.opts.ckptDir ?? process.cwd(),
          coordinator: { host: os.hostname(), port: this.port },
        });
        this.generation = r.generation;
        if (r.commit.removed.length) {
          this.log(`removed ${r.commit.removed.length} image(s) of processes gone since an earlier checkpoint: ${r.commit.removed.map((f) => path.basename(f)).join(', ')}`);
        }
        return;
      } catch (e) {
        r.errors.push(`committing the images failed: ${(e as Error).message}`);
      }
    }
    if (r.participants.size === 0 && r.errors.length === 0) r.errors.push('every process exited before the checkpoint completed');
    await images.abort(r.generation);
    this.log(`checkpoint of generation ${r.generation} failed; the previous images are untouched`);
  }

  private finishRound(r: Round): void {
    this.round = undefined;
    const ok = r.errors.length === 0;
    const outcome: CheckpointOutcome = {
      ok,
      generation: r.generation,
      images: (r.commit?.images ?? []).map((i) => ({ path: i.finalPath, bytes: i.bytes, program: i.program, pid: i.pid, host: i.host })),
      restartScript: r.commit?.restartScript,
      elapsedMs: Date.now() - r.startedAt,
      errors: r.errors,
    };
    if (r.kind === 'checkpoint') {
      this.lastOutcome = outcome;
      this.log(ok
        ? `checkpoint ${r.generation} done: ${outcome.images.length} image(s) in ${outcome.elapsedMs} ms`
        : `checkpoint ${r.generation} failed: ${r.errors.join('; ')}`);
    } else {
      this.generation = Math.max(this.generation, r.generation);
      this.log(`restart of generation ${r.generation} done`);
    }
    for (const w of r.waiters) w(outcome);
    if (r.killAfter && ok) this.killAll();
    if (this.workers.length === 0 && this.everHadWorkers && this.opts.exitOnLast) this.opts.onExit?.(0);
    this.maybeFinishRestart();
  }

  // ---- commands ----

  /** Starts a checkpoint; the promise settles when it has finished (successfully or not). */
  checkpoint(opts: { killAfter?: boolean } = {}): { started: boolean; reason?: string; done: Promise<CheckpointOutcome> } {
    const refuse = (reason: string) => ({ started: false, reason, done: Promise.resolve(this.failed(reason)) });
    if (this.round) return refuse(this.round.kind === 'restart' ? 'a restart is in progress' : 'a checkpoint is already in progress');
    if (this.restarting) return refuse(`waiting for ${this.restarting.expected - this.restarting.peers.size} more restarted process(es)`);
    const participants = new Set([...this.peers].filter((p) => p.worker && p.worker.state === 'RUNNING'));
    if (participants.size === 0 && this.execing.size === 0) return refuse('no processes are connected to this coordinator');
    const generation = this.generation + 1;
    let resolve!: (o: CheckpointOutcome) => void;
    const done = new Promise<CheckpointOutcome>((res) => (resolve = res));
    this.round = {
      kind: 'checkpoint',
      states: BARRIERS,
      nonce: crypto.randomBytes(8),
      generation,
      participants,
      reached: new Set(),
      index: 0,
      errors: [],
      startedAt: Date.now(),
      waiters: [resolve],
      killAfter: !!opts.killAfter,
      suspended: false,
    };
    this.log(`checkpoint ${generation}: ${participants.size} process(es)`);
    this.broadcastBarrier();
    return { started: true, done };
  }

  private failed(reason: string): CheckpointOutcome {
    return { ok: false, generation: this.generation, images: [], elapsedMs: 0, errors: [reason] };
  }

  killAll(): number {
    const workers = [...this.peers].filter((p) => p.worker);
    for (const p of workers) p.send(Msg.KILL);
    if (workers.length) this.log(`kill: ${workers.length} process(es)`);
    return workers.length;
  }

  setInterval(seconds: number): void {
    this.intervalSeconds = Math.max(0, Math.floor(seconds));
    if (this.intervalTimer) clearInterval(this.intervalTimer);
    this.intervalTimer = undefined;
    if (this.intervalSeconds > 0) {
      this.intervalTimer = setInterval(() => {
        if (!this.round && !this.restarting && this.workers.length) this.checkpoint();
      }, this.intervalSeconds * 1000);
      this.intervalTimer.unref();
    }
  }

  get interval(): number {
    return this.intervalSeconds;
  }

  status(): CoordinatorStatus {
    const r = this.round;
    return {
      host: os.hostname(),
      port: this.port,
      pid: process.pid,
      computation: this.computation,
      generation: this.generation,
      state: r ? (r.kind === 'checkpoint' ? 'CHECKPOINTING' : 'RESTARTING') : this.restarting ? 'RESTARTING' : this.workers.length ? 'RUNNING' : 'IDLE',
      barrier: r ? r.states[r.index] : undefined,
      numPeers: this.workers.length,
      running: !r && !this.restarting && this.workers.length > 0,
      waitingFor: this.restarting ? this.restarting.expected - this.restarting.peers.size : 0,
      interval: this.intervalSeconds,
      ckptDir: this.opts.ckptDir ?? process.cwd(),
      exitOnLast: !!this.opts.exitOnLast,
      lastCheckpoint: this.lastOutcome,
    };
  }

  /** PROGRESS frames (same seq) for a blocking checkpoint whose command asked for them; stop() sends the last. */
  private sendProgress(peer: Peer, seq: number): () => void {
    const r = this.round!;
    return reportProgress({
      counts: this.progress,
      pids: [...r.participants].map((p) => p.worker?.pid ?? 0).filter((pid) => pid > 0),
      generation: r.generation,
      send: (fields) => peer.send(Msg.PROGRESS, fields, seq),
    });
  }

  private command(peer: Peer, f: Frame): void {
    const verb = f.fields.str(Tag.COMMAND) ?? '';
    const reply = (ok: boolean, json: unknown) =>
      peer.send(Msg.RESULT, new FieldWriter().u32(Tag.OK, ok ? 1 : 0).str(Tag.JSON, JSON.stringify(json)), f.seq);
    switch (verb) {
      case 's':
        return reply(true, this.status());
      case 'l':
        return reply(true, this.workers);
      case 'c':
      case 'bc':
      case 'kc': {
        const c = this.checkpoint({ killAfter: verb === 'kc' });
        if (!c.started) return reply(false, { error: c.reason });
        if (verb === 'c') return reply(true, { started: true, generation: this.generation + 1 });
        const stop = f.fields.u32(Tag.PROGRESS) === 1 ? this.sendProgress(peer, f.seq) : undefined;
        c.done.then((o) => {
          stop?.();
          reply(o.ok, o);
        });
        return;
      }
      case 'k':
        return reply(true, { killed: this.killAll() });
      case 'q': {
        const killed = this.killAll();
        reply(true, { killed, quitting: true });
        this.log('quit requested');
        setTimeout(() => this.opts.onExit?.(0), killed ? 300 : 50).unref();
        return;
      }
      case 'i': {
        const n = f.fields.u32(Tag.INTERVAL);
        if (n !== undefined) this.setInterval(n);
        return reply(true, { interval: this.intervalSeconds });
      }
      default:
        return reply(false, { error: `unknown command ${JSON.stringify(verb)}` });
    }
  }
}

export interface CoordinatorStatus {
  host: string;
  port: number;
  pid: number;
  computation: string;
  generation: number;
  state: 'IDLE' | 'RUNNING' | 'CHECKPOINTING' | 'RESTARTING';
  barrier?: string;
  numPeers: number;
  running: boolean;
  waitingFor: number;
  interval: number;
  ckptDir: string;
  exitOnLast: boolean;
  lastCheckpoint?: CheckpointOutcome;
}

/** (real pid, virtual pid) of every process in the barrier, as u32 pairs: processes compare descriptors with kcmp. */
function pidPairs(peers: Iterable<Peer>): Buffer {
  const list = [...peers].filter((p) => p.worker);
  const b = Buffer.alloc(list.length * 8);
  list.forEach((p, i) => {
    b.writeUInt32LE(p.worker!.pid, i * 8);
    b.writeUInt32LE(p.worker!.vpid, i * 8 + 4);
  });
  return b;
}

/** Name service entries: (u16 key length, u16 value length, key, value) repeated. */
export function decodeNames(b: Buffer | undefined): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  if (!b) return out;
  for (let o = 0; o + 4 <= b.length; ) {
    const kl = b.readUInt16LE(o);
    const vl = b.readUInt16LE(o + 2);
    if (o + 4 + kl + vl > b.length) throw new ProtocolError(`name service entry at ${o} runs past its field`);
    out.push([b.toString('latin1', o + 4, o + 4 + kl), b.subarray(o + 4 + kl, o + 4 + kl + vl)]);
    o += 4 + kl + vl;
  }
  return out;
}

export function encodeNames(entries: readonly (readonly [string, Buffer])[]): Buffer {
  return Buffer.concat(entries.flatMap(([k, v]) => {
    const head = Buffer.alloc(4);
    const key = Buffer.from(k, 'latin1');
    head.writeUInt16LE(key.length, 0);
    head.writeUInt16LE(v.length, 2);
    return [head, key, v];
  }));
}

function newComputationId(): string {
  let h = 2166136261;
  for (const c of os.hostname()) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return `${h.toString(16).padStart(8, '0')}-${process.pid}-${Date.now().toString(16)}`;
}
