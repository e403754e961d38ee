#!/usr/bin/env node
// dmtcp_restart: a thin shim around main() in src/cli/restart.ts, so the command is testable in-process.
'use strict';
require('../dist/src/cli/errors').runMain('dmtcp_restart', require('../dist/src/cli/restart').main);
