#!/usr/bin/env node
// dmtcp_launch: a thin shim around main() in src/cli/launch.ts, so the command is testable in-process.
'use strict';
require('../dist/src/cli/errors').runMain('dmtcp_launch', require('../dist/src/cli/launch').main);
