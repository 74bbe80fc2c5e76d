// Registers the TypeScript module hooks (bin/ts-hooks.js) and turns on source maps, so stack traces name .ts lines.
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./ts-hooks.js', import.meta.url);
