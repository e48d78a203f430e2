/**
 * The domain's zod: zod/mini, for a smaller bundle and a faster cold start than classic
 * zod (the request schema's module init drops from ~40 ms to ~26 ms). Every domain schema
 * module imports `* as z` from here, never from 'zod/mini' directly, so the configuration
 * below is always in place before a schema is built:
 * - the English locale, which classic zod loads by default and zod/mini does not (its
 *   issues would all say "Invalid input");
 * - the memoizer, which classic zod also installs by default: it gives containers (and so
 *   `z.json()`) the same answers on inputs that share or cycle references.
 * `export *` (not a named `z` export) keeps the namespace tree-shakable.
 *
 * Module-level schemas are built inside `z.lazy(() => …)` (and the heavier fields of shared
 * shapes too): zod builds a schema's nodes when it is first parsed with, not when its module
 * loads, so a cold start builds none of them and a request builds only its own route's
 * (the requests function's module init fell from ~1.64 to ~1.47 × the floor of SPEC §9).
 */
import { en } from 'zod/locales';
import { config, memoizer } from 'zod/mini';

config({ ...en(), memoizer: memoizer() });

export * from 'zod/mini';
