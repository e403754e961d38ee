// The client side of the coordinator protocol, used by dmtcp_command, dmtcp_launch and dmtcp_restart.
import * as net from 'node:net';
import { Msg, PROTO_VERSION, Tag } from '../protocol/constants';
import { encodeFrame, FieldWriter, FrameDecoder, ProtocolError, type Frame } from '../protocol/frame';
import { CliError, EXIT_COORDINATOR } from './errors';

export class CoordinatorUnreachable extends CliError {
  constructor(readonly host: string, readonly port: number, readonly errno: string) {
    super(`no coordinator at ${host}:${port} (${errno}); start one with dmtcp_coordinator, or point -h/-p (DMTCP_COORD_HOST/DMTCP_COORD_PORT) at yours`, EXIT_COORDINATOR);
    this.name = 'CoordinatorUnreachable';
  }
}

export class NotACoordinator extends CliError {
  constructor(host: string, port: number, why: string) {
    super(`the service at ${host}:${port} is not a dmtcp-ts coordinator (${why}); use another -p PORT`, EXIT_COORDINATOR);
    this.name = 'NotACoordinator';
  }
}

export interface CommandResult {
  ok: boolean;
  data: Record<string, unknown> | unknown[];
}

export class CoordinatorClient {
  private readonly decoder = new FrameDecoder();
  private readonly waiting = new Map<number, (f: Frame) => void>();
  /** PROGRESS frames of requests still waiting for their reply, by sequence number. */
  private readonly progress = new Map<number, (f: Frame) => void>();
  private seq = 1;
  private broken?: Error;

  private constructor(private readonly sock: net.Socket, readonly host: string, readonly port: number) {
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const f of this.decoder.push(chunk)) {
          if (f.type === Msg.PROGRESS) {
            this.progress.get(f.seq)?.(f);
            continue;
          }
          const w = this.waiting.get(f.seq);
          if (w) {
            this.waiting.delete(f.seq);
            w(f);
          }
        }
      } catch (e) {
        this.fail(new NotACoordinator(host, port, e instanceof ProtocolError ? e.reason : (e as Error).message));
      }
    });
    sock.on('close', () => this.fail(new CliError(`the coordinator at ${host}:${port} closed the connection`, EXIT_COORDINATOR)));
    sock.on('error', (e) => this.fail(new CliError(`connection to the coordinator at ${host}:${port} failed: ${e.message}`, EXIT_COORDINATOR)));
  }

  private fail(e: Error): void {
    this.broken ??= e;
    for (const w of this.waiting.values()) w({ type: -1, seq: 0, fields: undefined as never });
    this.waiting.clear();
  }

  /** Connects and introduces itself; rejects with CoordinatorUnreachable or NotACoordinator. */
  static connect(host: string, port: number, name: string, timeoutMs = 5000): Promise<CoordinatorClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new NotACoordinator(host, port, `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new CoordinatorUnreachable(host, port, e.code ?? e.message));
      });
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        const client = new CoordinatorClient(sock, host, port);
        client
          .exchange(Msg.HELLO_CLIENT, new FieldWriter().str(Tag.CLIENT, name).u32(Tag.PROTOCOL_VERSION, PROTO_VERSION), timeoutMs)
          .then((f) => {
            clearTimeout(timer);
            if (f.type === Msg.REJECT) {
              client.close();
              return reject(new CliError(`the coordinator at ${host}:${port} refused us: ${f.fields.str(Tag.REASON) ?? 'no reason given'}`, EXIT_COORDINATOR));
            }
            if (f.type !== Msg.WELCOME) {
              client.close();
              return reject(new NotACoordinator(host, port, `unexpected reply type ${f.type}`));
            }
            resolve(client);
          })
          .catch((e) => {
            clearTimeout(timer);
            client.close();
            reject(e);
          });
      });
    });
  }

  private exchange(type: number, fields: FieldWriter, timeoutMs: number, onProgress?: (f: Frame) => void): Promise<Frame> {
    if (this.broken) return Promise.reject(this.broken);
    const seq = this.seq++;
    if (onProgress) this.progress.set(seq, onProgress);
    return new Promise((resolve, reject) => {
      const timer = timeoutMs > 0
        ? setTimeout(() => {
            this.waiting.delete(seq);
            reject(new CliError(`the coordinator at ${this.host}:${this.port} did not answer within ${timeoutMs} ms`, EXIT_COORDINATOR));
          }, timeoutMs)
        : undefined;
      this.waiting.set(seq, (f) => {
        if (timer) clearTimeout(timer);
        this.progress.delete(seq);
        if (f.type === -1) reject(this.broken);
        else resolve(f);
      });
      this.sock.write(encodeFrame(type, fields, seq));
    });
  }

  /** Sends a dmtcp_command verb; timeoutMs 0 waits as long as it takes (blocking checkpoint). With `onProgress`, a
   *  blocking checkpoint reports the page bytes written so far and an estimate of the total (0: unknown) until it
   *  answers; a coordinator that predates PROGRESS just answers. */
  async command(verb: string, extra?: (w: FieldWriter) => void, timeoutMs = 10000, onProgress?: (done: number, total: number) => void): Promise<CommandResult> {
    const w = new FieldWriter().str(Tag.COMMAND, verb);
    extra?.(w);
    if (onProgress) w.u32(Tag.PROGRESS, 1);
    const progress = onProgress && ((p: Frame) => onProgress(Number(p.fields.u64(Tag.DONE_BYTES) ?? 0n), Number(p.fields.u64(Tag.TOTAL_BYTES) ?? 0n)));
    const f = await this.exchange(Msg.COMMAND, w, timeoutMs, progress);
    if (f.type !== Msg.RESULT) throw new NotACoordinator(this.host, this.port, `unexpected reply type ${f.type}`);
    const json = f.fields.str(Tag.JSON) ?? '{}';
    return { ok: f.fields.u32(Tag.OK) === 1, data: JSON.parse(json) as CommandResult['data'] };
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }
}
