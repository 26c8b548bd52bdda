// @hey-api/openapi-ts configuration for the TypeScript client.
// Paths are resolved from this file, so `openapi-ts -f clients/typescript/openapi-ts.config.mjs`
// works from any directory. Imports get an explicit `.js` extension because the compiled
// output runs on Node without a bundler, and Node's ES module loader needs full specifiers.
import { fileURLToPath } from 'node:url';

const here = (relative) => fileURLToPath(new URL(relative, import.meta.url));

export default {
  input: here('../../openapi/registry-v1.yaml'),
  output: {
    path: here('../../build/clients/typescript/src/client'),
    module: { extension: '.js' },
  },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
  logs: { file: false },
};
