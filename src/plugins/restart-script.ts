// restart-script: after every committed checkpoint, writes dmtcp_restart_script_<computation>.sh in the
// coordinator's checkpoint directory and points dmtcp_restart_script.sh at it, as DMTCP does.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { binCommand } from '../paths';
import type { Pipeline, PipelinePlugin } from '../pipeline/pipeline';
import type { CommitContext } from '../pipeline/types';

export const SCRIPT_NAME = 'dmtcp_restart_script.sh';

/** Quotes a word for bash: single quotes, with embedded ones spliced in. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function restartScriptText(commit: CommitContext, restartCommand: string[] = binCommand('dmtcp_restart')): string {
  const images = commit.images.map((i) => `  ${shellQuote(i.finalPath)}`).join('\n');
  return `#!/usr/bin/env bash
# ${SCRIPT_NAME}: restarts generation ${commit.generation} of computation ${commit.computation} (${commit.images.length} process${commit.images.length === 1 ? '' : 'es'}).
# Written by dmtcp_coordinator (dmtcp-ts) at ${new Date().toISOString()}.
# Usage: ${SCRIPT_NAME} [-h|--coord-host HOST] [-p|--coord-port PORT] [-j|--join-coordinator]
#          [--new-coordinator] [--port-file FILE] [--ckptdir DIR] [--tmpdir DIR] [--plugin PATH] [--restartdir DIR] [-q] [--help]
set -euo pipefail
coord_host=${shellQuote(commit.coordinator.host)}
coord_port=${shellQuote(String(commit.coordinator.port))}
restart_dir=''
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--coord-host) coord_host="$2"; shift 2 ;;
    -p|--coord-port) coord_port="$2"; shift 2 ;;
    --restartdir) restart_dir="$2"; shift 2 ;;
    -j|--join-coordinator|--new-coordinator|-q|--quiet|--debug) extra+=("$1"); shift ;;
    --port-file|--ckptdir|--tmpdir|--plugin) extra+=("$1" "$2"); shift 2 ;;
    --help) sed -n '2,6p' "$0" | sed 's/^# \\{0,1\\}//'; exit 0 ;;
    *) echo "${SCRIPT_NAME}: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
images=(
${images}
)
if [ -n "$restart_dir" ]; then
  for i in "\${!images[@]}"; do images[$i]="$restart_dir/$(basename "\${images[$i]}")"; done
fi
exec ${restartCommand.map(shellQuote).join(' ')} --coord-host "$coord_host" --coord-port "$coord_port" "\${extra[@]}" "\${images[@]}"
`;
}

export class RestartScriptPlugin implements PipelinePlugin {
  static readonly pluginName = 'RestartScriptPlugin';

  apply(pipeline: Pipeline): void {
    pipeline.hooks.afterCommit.tapPromise(RestartScriptPlugin.pluginName, (commit) => this.write(commit));
  }

  async write(commit: CommitContext): Promise<void> {
    const safeId = commit.computation.replace(/[^A-Za-z0-9._-]/g, '_');
    const file = path.join(commit.scriptDir, `dmtcp_restart_script_${safeId}.sh`);
    const tmp = `${file}.tmp-${process.pid}`;
    await fs.mkdir(commit.scriptDir, { recursive: true });
    await fs.writeFile(tmp, restartScriptText(commit), { mode: 0o755 });
    await fs.rename(tmp, file);
    const link = path.join(commit.scriptDir, SCRIPT_NAME);
    const linkTmp = `${link}.tmp-${process.pid}`;
    await fs.rm(linkTmp, { force: true });
    await fs.symlink(path.basename(file), linkTmp);
    await fs.rename(linkTmp, link);
    commit.restartScript = link;
  }
}
