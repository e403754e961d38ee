#!/usr/bin/env node
// dmtcp_command: a thin shim around main() in src/cli/command.ts, so the command is testable in-process.
'use strict';
require('../dist/src/cli/errors').runMain('dmtcp_command', require('../dist/src/cli/command').main);
