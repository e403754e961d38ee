// The pages an image leaves to their files: read from the file the area mapped, at the area's file offset, zeros
// past its end (as the kernel fills the tail of a mapping). A file that is gone is an error naming it; one that
// changed since the checkpoint is read as it is now, with a warning.
import * as fs from 'node:fs';
import { AreaFlag } from '../../src/protocol/constants';
import { CliError } from '../../src/cli/errors';
import type { AreaRecord } from '../../src/pipeline/wasm/image-module';
import { errnoText } from './text';

export class MappedFiles {
  private readonly open = new Map<string, number>();

  constructor(private readonly warn: (message: string) => void = () => undefined) {}

  /** Fills `into` with the file's bytes backing the area at `areaOffset` (bytes from the area's start). */
  read(area: AreaRecord, areaOffset: bigint, into: Uint8Array): void {
    const fd = this.fd(area);
    const at = Number(area.fileOffset + areaOffset);
    let got = 0;
    while (got < into.length) {
      const n = fs.readSync(fd, into, got, into.length - got, at + got);
      if (n === 0) break;
      got += n;
    }
    into.fill(0, got);
  }

  close(): void {
    for (const fd of this.open.values()) fs.closeSync(fd);
    this.open.clear();
  }

  private fd(area: AreaRecord): number {
    const known = this.open.get(area.path);
    if (known !== undefined) return known;
    const where = `mapped at 0x${area.start.toString(16)}`;
    let fd: number;
    try {
      fd = fs.openSync(area.path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new CliError(`${area.path} (${where}) is gone: the image holds no copy of its pages, only a reference to the file`);
      throw new CliError(`${area.path} (${where}) cannot be read (${errnoText(e)}): the image holds no copy of its pages, only a reference to the file`);
    }
    this.open.set(area.path, fd);
    const st = fs.fstatSync(fd, { bigint: true });
    const mtimeNs = area.mtimeSec * 1_000_000_000n + BigInt(area.mtimeNsec);
    if (!(area.flags & AreaFlag.SHARED) && (st.size !== area.fileSize || st.mtimeNs !== mtimeNs)) {
      const was = `${area.fileSize} bytes, modified ${new Date(Number(area.mtimeSec) * 1000).toISOString()}`;
      const now = `${st.size} bytes, modified ${new Date(Number(st.mtimeNs / 1_000_000n)).toISOString()}`;
      this.warn(`warning: ${area.path} (${where}) changed since the checkpoint (was ${was}; now ${now}); its pages are read as they are now`);
    }
    return fd;
  }
}
