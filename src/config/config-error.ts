// ConfigError: every configuration problem found at start, each naming its variable or file and field.
export class ConfigError extends Error {
  /** One line per problem, e.g. `LISTEN_ADDR: expected host:port or :port` or `/claw/auth/providers.json: providers.openai.auth: ...`. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.map((problem) => `- ${problem}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
