/**
 * express-openapi-validator 5.6 finds the operation of each request by compiling every
 * documented path with path-to-regexp, on every request (middlewares/openapi.metadata.js,
 * lookupRoute): with this API's 34 paths that was the largest single cost of a validated
 * request (docs/performance.md). The compilation is a pure function of (path, options), so it
 * is memoized here on the module instance the validator calls. The cache is bounded by the
 * documented paths, the only paths the validator compiles this way. Express's router, which
 * shares the module, compiles its routes once at registration and is unaffected.
 * Remove when the validator caches its compiled routes itself.
 */
import { createRequire } from 'node:module';

interface PathToRegexpModule {
  pathToRegexp: (path: unknown, options?: unknown) => unknown;
  __hanamiMemoized?: boolean;
}

/** Flags the validator passes; any other option bypasses the cache. */
interface RouteOptions {
  sensitive?: boolean;
  strict?: boolean;
}

/** 0–3 from the two flags; undefined when the options hold anything else (not cached). */
function flagIndex(options: unknown): number | undefined {
  if (options === undefined) return 0;
  if (typeof options !== 'object' || options === null) return undefined;
  const o = options as RouteOptions & Record<string, unknown>;
  for (const key in o) if (key !== 'sensitive' && key !== 'strict') return undefined;
  return (o.sensitive === true ? 1 : 0) + (o.strict === true ? 2 : 0);
}

export function memoizeValidatorRouteCompilation(): void {
  const validator = createRequire(import.meta.url).resolve('express-openapi-validator');
  const module = createRequire(validator)('path-to-regexp') as PathToRegexpModule;
  if (module.__hanamiMemoized) return;
  const original = module.pathToRegexp;
  // path → compiled route per flag combination; no allocation on a hit (this runs ~30 times
  // per request).
  const cache = new Map<string, unknown[]>();
  module.pathToRegexp = (path: unknown, options?: unknown): unknown => {
    const flags = flagIndex(options);
    if (typeof path !== 'string' || flags === undefined) return original(path, options);
    let compiled = cache.get(path);
    if (!compiled) {
      compiled = [];
      cache.set(path, compiled);
    }
    return (compiled[flags] ??= original(path, options));
  };
  module.__hanamiMemoized = true;
}
