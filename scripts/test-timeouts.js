// Preloaded into every test file's process by scripts/run-tests.js: a test or hook without a timeout of its own gets 60 s.
// Node 20's --test-timeout bounds each test FILE as a whole (the runner's per-file subtest) and sets no default inside
// the file's process, so this wraps node:test's test/it and hooks instead. A test that needs longer says so with
// `{ timeout: ms }` and a comment why. describe() is left alone: its timeout, when given, bounds the whole suite.
// The cost: node:test takes a test's `location:` (TAP) from its caller, which is now this file; the test's name, and
// the stack of a failure, still say where it is.
import { createRequire, syncBuiltinESMExports } from 'node:module';

/** TOLLGATE_TEST_TIMEOUT_MS changes it (the test of this file uses 300 ms; a slower machine may want more). */
export const DEFAULT_TEST_TIMEOUT_MS = Number(process.env.TOLLGATE_TEST_TIMEOUT_MS) || 60_000;

const nodeTest = createRequire(import.meta.url)('node:test');

/** test(name?, options?, fn?): adds `timeout` to the options when they have none. */
function withDefaultTimeout(original) {
  const wrapped = function (...args) {
    const fnAt = args.findIndex((arg) => typeof arg === 'function');
    const optionsAt = args.findIndex((arg, index) => typeof arg === 'object' && arg !== null && (fnAt < 0 || index < fnAt));
    if (optionsAt >= 0) {
      if (args[optionsAt].timeout === undefined) args[optionsAt] = { ...args[optionsAt], timeout: DEFAULT_TEST_TIMEOUT_MS };
    } else if (fnAt >= 0) {
      args.splice(fnAt, 0, { timeout: DEFAULT_TEST_TIMEOUT_MS });
    } else {
      args.push({ timeout: DEFAULT_TEST_TIMEOUT_MS });
    }
    return original.apply(this, args);
  };
  return Object.assign(wrapped, original);
}

/** before(fn, options?) and the other hooks. */
function hookWithDefaultTimeout(original) {
  const wrapped = function (fn, options) {
    return original.call(this, fn, options?.timeout === undefined ? { ...options, timeout: DEFAULT_TEST_TIMEOUT_MS } : options);
  };
  return Object.assign(wrapped, original);
}

nodeTest.test = withDefaultTimeout(nodeTest.test);
nodeTest.it = withDefaultTimeout(nodeTest.it);
for (const hook of ['before', 'after', 'beforeEach', 'afterEach']) nodeTest[hook] = hookWithDefaultTimeout(nodeTest[hook]);
syncBuiltinESMExports();
