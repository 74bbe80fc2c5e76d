#!/usr/bin/env node
// Entry point of the `tollgate` command: loads the TypeScript sources (bin/load-ts.js) and runs the CLI.
import './load-ts.js';

const { runCli } = await import('../src/cli/index.ts');
process.exitCode = await runCli(process.argv.slice(2));
