#!/usr/bin/env node
// dmtcp_coordinator: a thin shim around main() in src/cli/coordinator.ts, so the command is testable in-process.
'use strict';
require('../dist/src/cli/errors').runMain('dmtcp_coordinator', require('../dist/src/cli/coordinator').main);
