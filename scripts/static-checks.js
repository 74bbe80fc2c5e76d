// The checks `npm test` runs on the whole tree before the suite (each also an npm script of its own), in order.
export const STATIC_CHECKS = [
  { name: 'typecheck', what: 'tsc --noEmit (npm run typecheck)', args: ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'] },
];
