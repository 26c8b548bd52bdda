// @hey-api/openapi-ts configuration for the TypeScript client of the OCI Distribution spec
// (compiled with the smoke project; the harness has no v2 registry, so it is not run).
// Paths are resolved from this file, so `openapi-ts -f clients/typescript/openapi-ts.oci.config.mjs`
// works from any directory. Imports get an explicit `.js` extension because the compiled
// output runs on Node without a bundler, and Node's ES module loader needs full specifiers.
import { fileURLToPath } from 'node:url';

const here = (relative) => fileURLToPath(new URL(relative, import.meta.url));

export default {
  input: here('../../openapi/oci-distribution.yaml'),
  output: {
    path: here('../../build/clients/typescript/src/oci'),
    module: { extension: '.js' },
  },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
  logs: { file: false },
};
