// Operational logger (start-up notices, warnings, failures) on stderr, so stdout stays the audit stream.
import pino from 'pino';
import { redactSecrets, scrubSecretText } from './redact.ts';

export type Logger = pino.Logger;

export interface LoggerOptions {
  readonly level?: pino.LevelWithSilentOrString;
  /** Default: stderr, written synchronously (low volume, and a fatal message must not be lost on exit). */
  readonly destination?: NodeJS.WritableStream | pino.DestinationStream;
}

/** `{"level":"warn","time":"<ISO>","msg":"..."}` lines; secret-named fields and key-shaped strings are redacted. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = (options.destination ?? pino.destination({ dest: 2, sync: true })) as pino.DestinationStream;
  return pino(
    {
      level: options.level ?? 'info',
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: {
        // the message text and its printf-style arguments are scrubbed too, not only the merged object
        logMethod(args, method) {
          const scrubbed = args.map((arg) => (typeof arg === 'string' ? scrubSecretText(arg) : arg));
          return method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => redactSecrets(object) as Record<string, unknown>,
      },
    },
    destination,
  );
}
