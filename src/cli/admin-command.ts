// Runs one CLI command against the admin API: its output on stdout, an API refusal as one line (and its problems) on stderr.
import { AdminRequestError, type AdminTarget, resolveAdminTarget } from './admin-client.ts';
import { colorWanted, createStyle, type Style } from './output.ts';

/** The flags every admin command takes: where the API is, its token, and JSON output instead of text. */
export interface ConnectionFlags {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Exit code 0 with `run`'s text printed, or 1 with the API's refusal; any other error is the CLI's own and thrown. */
export async function runAdminCommand(flags: ConnectionFlags, run: (target: AdminTarget, style: Style) => Promise<string>): Promise<number> {
  const target = resolveAdminTarget({ url: flags.url, token: flags.token, env: process.env });
  const style = createStyle(!flags.json && colorWanted(process.stdout));
  try {
    process.stdout.write(await run(target, style));
    return 0;
  } catch (error) {
    if (!(error instanceof AdminRequestError)) throw error;
    const errStyle = createStyle(colorWanted(process.stderr));
    process.stderr.write(`tollgate: ${error.message}\n`);
    for (const problem of error.problems) process.stderr.write(`  ${errStyle.red('✗')} ${problem}\n`);
    return 1;
  }
}
