// superseded-images: after a committed checkpoint, removes the images that processes gone since an earlier checkpoint
// of the same computation left in the directories the new images went to. With one image name per process (unique
// filenames off, as by default), each checkpoint overwrites the images of the processes still there, so the image of
// a process that exited since belongs to a checkpoint whose other images are gone: nothing can restart it, and
// `dmtcp_restart ckpt_*.dmtcp` there would refuse the mix of two checkpoints. Generation-numbered images (unique
// filenames, incremental chains) are a history the user asked to keep and are never touched, nor are files that are
// not readable images of this computation.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ImageReader } from '../pipeline/image-reader';
import type { Pipeline, PipelinePlugin } from '../pipeline/pipeline';
import { isImageFileName } from '../pipeline/process-info';
import type { CommitContext } from '../pipeline/types';
import { isUniqueImageName } from './unique-filenames';

/** The images in `dir`, other than `keep`, of `computation` from a generation before `generation`. */
export async function supersededImages(dir: string, keep: ReadonlySet<string>, computation: string, generation: number): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    if (!isImageFileName(name) || isUniqueImageName(name) || keep.has(file)) continue;
    let reader: ImageReader;
    try {
      reader = ImageReader.open(file);
    } catch {
      continue;   // not an image we can read: not ours to judge
    }
    try {
      if (reader.strings.computation === computation && reader.header.generation < generation) found.push(file);
    } finally {
      reader.close();
    }
  }
  return found;
}

export class SupersededImagesPlugin implements PipelinePlugin {
  static readonly pluginName = 'SupersededImagesPlugin';

  apply(pipeline: Pipeline): void {
    pipeline.hooks.afterCommit.tapPromise(SupersededImagesPlugin.pluginName, (commit) => this.sweep(commit));
  }

  async sweep(commit: CommitContext): Promise<void> {
    const keep = new Set(commit.images.map((i) => i.finalPath));
    const dirs = new Set(commit.images.map((i) => path.dirname(i.finalPath)));
    for (const dir of dirs) {
      for (const file of await supersededImages(dir, keep, commit.computation, commit.generation)) {
        try {
          await fs.unlink(file);
          commit.removed.push(file);
        } catch {
          // gone already, or not ours to remove: it stays, and dmtcp_restart will say so if it is given
        }
      }
    }
  }
}
