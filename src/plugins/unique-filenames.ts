// unique-filenames: off by default, as in DMTCP. When the process asked for it (dmtcp_launch
// --enable-unique-checkpoint-filenames, DMTCP_UNIQUE_CKPT_PLUGIN=1), every generation gets its own image name
// ckpt_<prog>_<id>_<generation>.dmtcp instead of overwriting the last one. Incremental images (--incremental) turn it
// on: a generation must not overwrite the image the next one depends on.
import type { Pipeline, PipelinePlugin } from '../pipeline/pipeline';

export function uniqueImageName(path: string, generation: number): string {
  return path.replace(/\.dmtcp$/, `_${String(generation).padStart(5, '0')}.dmtcp`);
}

/** Whether `name` ends as uniqueImageName makes it end (a generation of at least five digits). */
export function isUniqueImageName(name: string): boolean {
  return /_\d{5,}\.dmtcp$/.test(name);
}

export class UniqueFilenamesPlugin implements PipelinePlugin {
  static readonly pluginName = 'UniqueFilenamesPlugin';

  apply(pipeline: Pipeline): void {
    pipeline.hooks.imagePath.tap(UniqueFilenamesPlugin.pluginName, (path, ctx) =>
      ctx.strings.unique || (ctx.strings.incremental ?? 0) > 0 ? uniqueImageName(path, ctx.process.generation) : path,
    );
  }
}
