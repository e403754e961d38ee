// One TCP connection to the coordinator (a worker process or a client such as dmtcp_command), with framing.
import type * as net from 'node:net';
import { Msg, PROTO_VERSION, Tag } from '../protocol/constants';
import { encodeFrame, FieldWriter, FrameDecoder, ProtocolError, VersionMismatch, type Frame } from '../protocol/frame';

export interface WorkerInfo {
  id: string;
  pid: number;
  /** The pid the program knows (differs from `pid` after a restart). */
  vpid: number;
  ppid: number;
  host: string;
  program: string;
  argv: string[];
  state: string;
  generation: number;
  restarted: boolean;
  computation: string;
  ckptDir: string;
  joinedAt: number;
  image?: string;
  imageBytes?: number;
}

export class Peer {
  kind: 'unknown' | 'worker' | 'client' = 'unknown';
  worker?: WorkerInfo;
  clientName = '';
  /** The process said it is about to exec: its connection closing means a new image is on its way. */
  execing = false;
  private readonly decoder = new FrameDecoder();
  closed = false;

  constructor(readonly socket: net.Socket, readonly serial: number) {}

  get address(): string {
    const host = (this.socket.remoteAddress ?? '?').replace(/^::ffff:/, '');   // IPv4 seen through a dual-stack socket
    return `${host}:${this.socket.remotePort ?? '?'}`;
  }

  /** Describes the peer for log lines. */
  get label(): string {
    if (this.worker) return `${this.worker.program}[${this.worker.pid}]@${this.worker.host}`;
    if (this.kind === 'client') return `${this.clientName || 'client'} from ${this.address}`;
    return `connection ${this.serial} from ${this.address}`;
  }

  /** Decodes incoming bytes; a protocol violation is answered (REJECT for a version mismatch, ERROR otherwise). */
  receive(chunk: Buffer, onFrame: (f: Frame) => void, onViolation: (reason: string) => void): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      if (e instanceof VersionMismatch) {
        this.send(Msg.REJECT, new FieldWriter().str(Tag.REASON, e.reason).u32(Tag.PROTOCOL_VERSION, PROTO_VERSION));
      } else if (e instanceof ProtocolError) {
        this.send(Msg.ERROR, new FieldWriter().str(Tag.REASON, e.reason));
      }
      onViolation(e instanceof ProtocolError ? e.reason : (e as Error).message);
      this.close();
      return;
    }
    for (const f of frames) {
      if (this.closed) return;
      try {
        onFrame(f);
      } catch (e) {
        const reason = e instanceof ProtocolError ? e.reason : (e as Error).message;
        this.send(Msg.ERROR, new FieldWriter().str(Tag.REASON, reason));
        onViolation(reason);
        this.close();
        return;
      }
    }
  }

  send(type: number, fields: FieldWriter = new FieldWriter(), seq = 0): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(encodeFrame(type, fields, seq));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
}
