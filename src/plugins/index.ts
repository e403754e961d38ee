// The plugins every pipeline starts with, in checkpoint order; user plugins (--plugin) come after them.
import type { PipelinePlugin } from '../pipeline/pipeline';
import { builtinCodecPlugins } from './codecs';
import { CompressionPlugin } from './compression';
import { FileMmapPolicyPlugin } from './file-mmap-policy';
import { RestartScriptPlugin } from './restart-script';
import { UniqueFilenamesPlugin } from './unique-filenames';

export interface DefaultPluginOptions {
  deflateLevel?: number;
  ignoreFileChanges?: boolean;
}

export function defaultPlugins(opts: DefaultPluginOptions = {}): PipelinePlugin[] {
  return [
    ...builtinCodecPlugins(opts.deflateLevel),
    new CompressionPlugin(),
    new FileMmapPolicyPlugin({ ignoreChanges: opts.ignoreFileChanges ?? process.env.DMTCP_IGNORE_FILE_CHANGES === '1' }),
    new UniqueFilenamesPlugin(),
    new RestartScriptPlugin(),
  ];
}
