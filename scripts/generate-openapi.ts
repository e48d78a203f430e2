/** Writes docs/openapi.json from the zod schemas (`npm run openapi`). */
import { writeFileSync } from 'node:fs';
import { buildOpenApiDocument } from '../infra/openapi.js';

export const OPENAPI_PATH = new URL('../docs/openapi.json', import.meta.url);

writeFileSync(OPENAPI_PATH, `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`);
console.log(`wrote ${OPENAPI_PATH.pathname}`);
