/**
 * What the core takes from the outside world. Tests inject both; nothing in src/ reads the global
 * `fetch` or `Date.now()` directly except through these defaults.
 */
export interface Deps {
  fetch: typeof fetch;
  /** Milliseconds since the epoch. */
  now: () => number;
}

export const defaultDeps: Deps = {
  fetch: (input, init) => globalThis.fetch(input, init),
  now: () => Date.now(),
};

export function withDeps(partial: Partial<Deps> = {}): Deps {
  return { ...defaultDeps, ...partial };
}
