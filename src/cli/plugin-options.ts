// --plugin for dmtcp_launch and dmtcp_restart: loading the plugins given (so a broken one stops the command with one
// line naming its file), checking --codec against them, and at restart the plugins each image needs and their
// sections given back before the processes run again (docs/PLUGINS.md).
import {
  PLUGINS_ENV,
  UserPluginError,
  formatPluginSpec,
  loadAll,
  neededPlugins,
  parsePluginList,
  parsePluginSpec,
  pluginListAfterRestart,
  restorePluginSections,
  type ActivePlugin,
  type NeededPlugin,
} from '../plugins/user-plugins';
import type { ImageReader } from '../pipeline/image-reader';
import { CliError, EXIT_IMAGE, EXIT_USAGE } from './errors';

/** Codec names the built-in registry answers (src/plugins/codecs.ts and its aliases). */
const BUILTIN_CODECS = new Set(['', 'default', 'dlz', 'deflate', 'gzip', 'none', 'stored']);

export const PLUGIN_OPTION = {
  name: 'plugin',
  value: true,
  repeat: true,
  arg: 'PATH[,KEY=VALUE...]',
} as const;

/** The plugins of DMTCP_TS_PLUGINS followed by those of --plugin, loaded. */
export function givenPlugins(flags: readonly string[], env: NodeJS.ProcessEnv = process.env): ActivePlugin[] {
  try {
    return loadAll([...parsePluginList(env[PLUGINS_ENV]), ...flags.map((f) => parsePluginSpec(f))]);
  } catch (e) {
    if (e instanceof UserPluginError) throw new CliError(e.message, EXIT_USAGE);
    throw e;
  }
}

/** dmtcp_launch: checks the plugins and the codec; returns DMTCP_TS_PLUGINS for the program (undefined: none). */
export function launchPlugins(flags: readonly string[], codec: string | undefined, codecSource: string, env: NodeJS.ProcessEnv): string | undefined {
  const plugins = givenPlugins(flags, env);
  if (codec !== undefined && !BUILTIN_CODECS.has(codec) && !plugins.some((p) => p.loaded.codecs.some((c) => c.name === codec))) {
    const offered = plugins.flatMap((p) => p.loaded.codecs.map((c) => c.name));
    throw new CliError(`${codecSource}${codec}: no such codec (built in: dlz, deflate, none${offered.length ? `; from plugins: ${offered.join(', ')}` : ''}); a plugin's codec needs --plugin PATH`, EXIT_USAGE);
  }
  return plugins.length ? plugins.map((p) => formatPluginSpec(p.spec)).join(':') : undefined;
}

/** dmtcp_restart: the plugins every image needs, resolved; one line naming the image and the plugin otherwise. */
export function imagePlugins(readers: readonly ImageReader[], given: readonly ActivePlugin[]): NeededPlugin[][] {
  try {
    return readers.map((r) => neededPlugins(r.path, r.meta, given));
  } catch (e) {
    if (e instanceof UserPluginError) throw new CliError(e.message, EXIT_IMAGE);
    throw e;
  }
}

/** dmtcp_restart: gives each image's plugins their sections, before anything of the restart runs. */
export async function restoreImagePlugins(readers: readonly ImageReader[], needed: readonly NeededPlugin[][]): Promise<void> {
  for (let i = 0; i < readers.length; i++) {
    const r = readers[i];
    try {
      await restorePluginSections({ path: r.path, strings: r.strings, generation: r.process.generation, sections: r.plugins }, needed[i]);
    } catch (e) {
      if (e instanceof UserPluginError) throw new CliError(e.message, 1);
      throw e;
    }
  }
}

/** dmtcp_restart: the plugin list later checkpoints of the restarted processes use (undefined: they keep theirs). */
export function restartedPluginList(readers: readonly ImageReader[], given: readonly ActivePlugin[]): string | undefined {
  return pluginListAfterRestart(readers.map((r) => r.meta), given);
}
