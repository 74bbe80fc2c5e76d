// The checks `npm test` runs on the whole tree before the suite (each also an npm script of its own), in order.
export const STATIC_CHECKS = [
  { name: 'typecheck', what: 'tsc --noEmit (npm run typecheck)', args: ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'] },
  {
    name: 'lint',
    what: 'Biome lint rules and formatting, in biome.jsonc (npm run lint; npm run format fixes formatting)',
    args: ['node_modules/@biomejs/biome/bin/biome', 'check', '--error-on-warnings', '.'],
  },
  { name: 'deps', what: 'import rules of scripts/dependency-rules.js (npm run deps)', args: ['scripts/check-deps.js'] },
];
