#!/usr/bin/env node
// readimage: a thin shim around main() in tools/readimage/main.ts, so the command is testable in-process.
'use strict';
require('../dist/src/cli/errors').runMain('readimage', require('../dist/tools/readimage/main').main);
