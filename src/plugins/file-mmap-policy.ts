// file-mmap-policy: files the program had mapped are taken from the current file at restart (only pages the program
// wrote are in the image). This plugin refuses a restart whose mapped files are gone or changed, naming the file.
import * as fs from 'node:fs';
import { AreaFlag, Backing } from '../protocol/constants';
import type { Pipeline, PipelinePlugin } from '../pipeline/pipeline';
import type { AreaRecord } from '../pipeline/wasm/image-module';

export interface FileMmapPolicyOptions {
  /** Accept files whose size or modification time changed (DMTCP_IGNORE_FILE_CHANGES=1). */
  ignoreChanges?: boolean;
}

function hexAddr(a: bigint): string {
  return '0x' + a.toString(16);
}

export class FileMmapPolicyPlugin implements PipelinePlugin {
  static readonly pluginName = 'FileMmapPolicyPlugin';

  constructor(private readonly opts: FileMmapPolicyOptions = {}) {
    if (opts.ignoreChanges !== undefined && typeof opts.ignoreChanges !== 'boolean') {
      throw new Error('FileMmapPolicyPlugin: ignoreChanges must be a boolean');
    }
  }

  apply(pipeline: Pipeline): void {
    pipeline.hooks.checkArea.tap(FileMmapPolicyPlugin.pluginName, (area) => this.check(area));
  }

  /** A message when the area's file cannot serve the restart, undefined when it can. */
  check(area: AreaRecord): string | undefined {
    if (area.backing !== Backing.FILE) return undefined;
    const where = `mapped at ${hexAddr(area.start)}`;
    let st: fs.BigIntStats;
    try {
      st = fs.statSync(area.path, { bigint: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return `${area.path} (${where}) is ${code === 'ENOENT' ? 'gone' : `unreadable (${code})`}; put the file back where it was, or checkpoint with --ckpt-open-files`;
    }
    if (!st.isFile()) return `${area.path} (${where}) is no longer a regular file`;
    const shared = (area.flags & AreaFlag.SHARED) !== 0;
    if (shared || this.opts.ignoreChanges) return undefined;   // a shared mapping's file is its own truth
    const mtimeNs = area.mtimeSec * 1_000_000_000n + BigInt(area.mtimeNsec);
    if (st.size !== area.fileSize || st.mtimeNs !== mtimeNs) {
      const was = `${area.fileSize} bytes, modified ${new Date(Number(area.mtimeSec) * 1000).toISOString()}`;
      const now = `${st.size} bytes, modified ${new Date(Number(st.mtimeNs / 1_000_000n)).toISOString()}`;
      return `${area.path} (${where}) changed since the checkpoint (was ${was}; now ${now}); restore the original file or set DMTCP_IGNORE_FILE_CHANGES=1 to use it anyway`;
    }
    return undefined;
  }
}
