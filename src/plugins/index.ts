// The plugins every pipeline starts with, in checkpoint order; user plugins (--plugin) come after them.
import type { PipelinePlugin } from '../pipeline/pipeline';
import { builtinCodecPlugins } from './codecs';
import { CompressionPlugin } from './compression';
import { FileMmapPolicyPlugin } from './file-mmap-policy';
import { IncrementalPlugin } from './incremental';
import { RestartScriptPlugin } from './restart-script';
import { SupersededImagesPlugin } from './superseded-images';
import { UniqueFilenamesPlugin } from './unique-filenames';
import { UserPluginsPlugin, type PluginSpec } from './user-plugins';

export interface DefaultPluginOptions {
  deflateLevel?: number;
  ignoreFileChanges?: boolean;
  /** Plugins given to this command (--plugin); default: DMTCP_TS_PLUGINS (docs/PLUGINS.md). */
  userPlugins?: readonly PluginSpec[];
}

export function defaultPlugins(opts: DefaultPluginOptions = {}): PipelinePlugin[] {
  return [
    ...builtinCodecPlugins(opts.deflateLevel),
    new CompressionPlugin(),
    new FileMmapPolicyPlugin({ ignoreChanges: opts.ignoreFileChanges ?? process.env.DMTCP_IGNORE_FILE_CHANGES === '1' }),
    new UniqueFilenamesPlugin(),
    new IncrementalPlugin(),
    new RestartScriptPlugin(),
    new SupersededImagesPlugin(),
    new UserPluginsPlugin({ explicit: opts.userPlugins }),
  ];
}
