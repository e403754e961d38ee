// Incremental images and their parents: what META.incremental says, opening the chain of parent images that lie
// beside an image (checking that each is the very image its child was written against), and resolving a PARENT
// block to the pieces of the ancestors' chunks that hold its pages. dmtcp_restart, its decoder and readimage use it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BlockFlag, FILE_HEADER_SIZE, FileFlag } from './image-format';
import { ImageError, ImageReader, type ChunkEntry } from './image-reader';
import { imageStage } from './wasm/image-module';

/** The parent an incremental image names in META (docs/IMAGE-FORMAT.md, "Incremental images"). */
export interface ParentRef {
  /** File name, looked up in the directory of the image that names it. */
  file: string;
  /** META.incremental.imageId of the parent: a replaced parent has another. */
  imageId: string;
  generation: number;
  /** Size of the parent file. */
  bytes: number;
}

/** META.incremental, written for every image of a process checkpointed with incremental images on. */
export interface IncrementalMeta {
  /** Random identity of this image, which a child names. */
  imageId: string;
  /** A full image every this many generations. */
  fullEvery: number;
  /** Images before this one in its chain: 0 for a full image. */
  depth: number;
  parent: ParentRef | null;
  /** Pages this image stores, and pages it leaves to its parent. */
  storedPages: number;
  parentPages: number;
  /** For a full image: why it is full ("first image", "every 8 generations", ...). */
  full?: string;
}

/** A chain that cannot be followed: the message names the image, the parent it needs and what to do. */
export class ChainError extends ImageError {
  constructor(file: string, detail: string) {
    super(file, undefined, detail);
    this.message = `${file} ${detail}`;
    this.name = 'ChainError';
  }
}

/** META.incremental of an image, checked; undefined for an image written without incremental images. */
export function incrementalMeta(reader: ImageReader): IncrementalMeta | undefined {
  const m = reader.meta.incremental as Partial<IncrementalMeta> | undefined;
  const flagged = (reader.header.flags & FileFlag.INCREMENTAL) !== 0;
  if (m === undefined || m === null) {
    if (flagged) throw new ImageError(reader.path, undefined, 'the header says the image is incremental, but its META names no parent image');
    return undefined;
  }
  const p = m.parent;
  const parentOk = p === null || p === undefined || (typeof p === 'object' && typeof p.file === 'string' && p.file !== '' && !p.file.includes('/')
    && typeof p.imageId === 'string' && Number.isInteger(p.generation) && Number.isInteger(p.bytes));
  if (typeof m !== 'object' || typeof m.imageId !== 'string' || !parentOk) {
    throw new ImageError(reader.path, undefined, 'META.incremental is malformed (see docs/IMAGE-FORMAT.md)');
  }
  if (flagged && !p) throw new ImageError(reader.path, undefined, 'the header says the image is incremental, but its META names no parent image');
  return {
    imageId: m.imageId,
    fullEvery: Number(m.fullEvery ?? 0),
    depth: Number(m.depth ?? 0),
    parent: flagged && p ? p : null,
    storedPages: Number(m.storedPages ?? 0),
    parentPages: Number(m.parentPages ?? 0),
    ...(m.full ? { full: String(m.full) } : {}),
  };
}

/** Where `reader`'s parent must be: beside it. */
export function parentPath(reader: ImageReader, ref: ParentRef): string {
  return path.join(path.dirname(reader.path), ref.file);
}

/**
 * Opens every ancestor of `reader`, each found beside its child, checks each is the image its child names (same
 * image id, size and generation, same process), and attaches each to its child as `parent` (closing the child
 * closes them). Returns the chain, `reader` first. Throws ChainError naming the first link that is missing or
 * replaced, and ImageError for a damaged parent.
 */
export function openChain(reader: ImageReader): ImageReader[] {
  const chain = [reader];
  const seen = new Set<string>([path.resolve(reader.path)]);
  for (let child = reader; ; ) {
    if (child.parent) {
      chain.push(child.parent);
      child = child.parent;
      continue;
    }
    const ref = incrementalMeta(child)?.parent;
    if (!ref) return chain;
    const file = parentPath(child, ref);
    if (seen.has(path.resolve(file))) throw new ChainError(child.path, `names ${ref.file} as its parent, which is already in its chain (the images loop)`);
    seen.add(path.resolve(file));
    if (!fs.existsSync(file)) throw new ChainError(child.path, `needs parent ${ref.file}, which is missing: ${advice(child, ref)}`);
    const parent = ImageReader.open(file);
    const why = replaced(child, parent, ref);
    if (why) {
      parent.close();
      throw new ChainError(child.path, `needs parent ${ref.file}, which was replaced by another image (${why}): ${advice(child, ref)}`);
    }
    child.parent = parent;
    chain.push(parent);
    child = parent;
  }
}

/** Why `parent` is not the image `child` was written against, or undefined when it is. */
function replaced(child: ImageReader, parent: ImageReader, ref: ParentRef): string | undefined {
  if (parent.strings.workerId !== child.strings.workerId || parent.strings.computation !== child.strings.computation) {
    return 'of another process';
  }
  let id: string | undefined;
  try {
    id = incrementalMeta(parent)?.imageId;
  } catch {
    id = undefined;
  }
  if (id !== ref.imageId) return `image id ${id ?? 'none'}, expected ${ref.imageId}`;
  if (parent.header.generation !== ref.generation) return `generation ${parent.header.generation}, expected ${ref.generation}`;
  if (parent.size !== ref.bytes) return `${parent.size} bytes, expected ${ref.bytes}`;
  return undefined;
}

/** What to do about a broken link: restart from a full image of the same process, if one is there. */
function advice(child: ImageReader, ref: ParentRef): string {
  const full = fullImageBeside(child, ref);
  const dir = path.dirname(child.path);
  return full ? `restart from a full image such as ${full} or restore the file` : `restore the file (no full image of this process is left in ${dir})`;
}

/** The newest full (not incremental) image of the process in the directory of `child`, by file name. */
function fullImageBeside(child: ImageReader, ref: ParentRef): string | undefined {
  const dir = path.dirname(child.path);
  const prefix = path.basename(child.path).replace(/(_\d+)?\.dmtcp$/, '');
  let best: { name: string; generation: number } | undefined;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^(_\d+)?\.dmtcp$/.test(name.slice(prefix.length)) || name === ref.file) continue;
    const header = readHeader(path.join(dir, name));
    if (!header || header.flags & FileFlag.INCREMENTAL) continue;
    if (!best || header.generation > best.generation) best = { name, generation: header.generation };
  }
  return best?.name;
}

function readHeader(file: string): { flags: number; generation: number } | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(FILE_HEADER_SIZE);
    if (fs.readSync(fd, buf, 0, buf.length, 0) !== buf.length) return undefined;
    return imageStage().fileHeader(buf);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

// ---- resolving PARENT blocks ----

/** Part of a PARENT block's range: `length` bytes at `address`, which are `from` bytes into the decoded data chunk
 *  `chunk` of the ancestor `image`, or zeros when `chunk` is null (a ZERO block of the ancestor). */
export interface ParentSlice {
  image: ImageReader;
  chunk: ChunkEntry | null;
  from: number;
  length: number;
  address: number;
}

interface IndexEntry {
  start: number;
  end: number;
  chunk: ChunkEntry;
}

const indexes = new WeakMap<ImageReader, IndexEntry[]>();

/** An image's chunks by address (user addresses stay below 2^47: doubles hold them exactly). */
function addressIndex(reader: ImageReader): IndexEntry[] {
  let index = indexes.get(reader);
  if (!index) {
    index = reader.chunks.map((chunk) => {
      const start = Number(reader.areas[chunk.header.area].start + chunk.header.offset);
      return { start, end: start + chunk.header.rawLength, chunk };
    });
    index.sort((a, b) => a.start - b.start);
    indexes.set(reader, index);
  }
  return index;
}

/** The pieces of ancestors' chunks that hold the pages of `reader`'s PARENT block `c`, in address order. The chain
 *  must be open (openChain). Throws ImageError when an ancestor does not hold a page it should. */
export function resolveParent(reader: ImageReader, c: ChunkEntry): ParentSlice[] {
  const lo = Number(reader.areas[c.header.area].start + c.header.offset);
  const out: ParentSlice[] = [];
  resolveIn(reader, lo, lo + c.header.rawLength, out);
  return out;
}

function resolveIn(child: ImageReader, lo: number, hi: number, out: ParentSlice[]): void {
  const image = child.parent;
  const range = `0x${lo.toString(16)}-0x${hi.toString(16)}`;
  if (!image) throw new ImageError(child.path, undefined, `the pages at ${range} are in its parent image, which was not opened`);
  const index = addressIndex(image);
  let a = 0;
  let b = index.length;
  while (a < b) {
    const m = (a + b) >> 1;
    if (index[m].end <= lo) a = m + 1;
    else b = m;
  }
  let pos = lo;
  for (let i = a; i < index.length && pos < hi; i++) {
    const e = index[i];
    if (e.start > pos) break;
    const to = Math.min(hi, e.end);
    const flags = e.chunk.header.flags;
    if (flags & BlockFlag.PARENT) resolveIn(image, pos, to, out);
    else out.push({ image, chunk: flags & BlockFlag.ZERO ? null : e.chunk, from: pos - e.start, length: to - pos, address: pos });
    pos = to;
  }
  if (pos < hi) {
    throw new ImageError(image.path, undefined, `holds no pages at 0x${pos.toString(16)}-0x${hi.toString(16)}, which ${path.basename(child.path)} takes from it (the chain is damaged)`);
  }
}

/** Opens an image and, for an incremental one, the chain of parents beside it (a missing or replaced parent is an
 *  error naming it); nothing stays open when that fails. */
export function openImageChain(file: string): ImageReader {
  const reader = ImageReader.open(file);
  try {
    openChain(reader);
  } catch (e) {
    reader.close();
    throw e;
  }
  return reader;
}
