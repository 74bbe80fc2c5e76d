// The `tollgate` command: one subcommand per file in ./commands, wired with commander.
import { Command, CommanderError } from 'commander';
import { registerKeys } from './commands/keys.ts';
import { registerLedger } from './commands/ledger.ts';
import { registerOverride } from './commands/override.ts';
import { registerServe } from './commands/serve.ts';
import { registerStatus } from './commands/status.ts';
import { registerValidate } from './commands/validate.ts';

export async function runCli(argv: readonly string[]): Promise<number> {
  const program = new Command('tollgate')
    .description('LLM governance proxy: identity, routing, metering, history and budgets that hold under concurrency')
    .exitOverride()
    .showHelpAfterError();
  registerServe(program);
  registerStatus(program);
  registerValidate(program);
  registerOverride(program);
  registerLedger(program);
  registerKeys(program);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    process.stderr.write(`tollgate: ${(error as Error).message}\n`);
    return 1;
  }
}
