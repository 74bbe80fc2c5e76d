// Runs the test suite's fake upstream as its own process for benchmarks; prints its URL on stdout.
import { startFakeUpstream } from '../test/helpers/fake-upstream.ts';

const fake = await startFakeUpstream({ chunks: 8 });
process.stdout.write(`${fake.url}\n`);
process.on('SIGTERM', () => void fake.close().then(() => process.exit(0)));
