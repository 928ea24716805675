import { nodeHttp } from '../../src/catalog/node-http.js';
import type { HttpClient } from '../../src/deps.js';

/**
 * The tool operations' HTTP client with a gate: the real answer is fetched, then held while the gate is
 * shut. Shut from the start unless `{ held: false }`; `hold()` shuts it again, `release()` opens it.
 */
export function heldHttp(opts: { held?: boolean } = {}): {
  http: HttpClient;
  sent: () => number;
  /** Resolves once a request has been sent (its decision record is durable by then). */
  untilSent: () => Promise<void>;
  hold: () => void;
  release: () => void;
} {
  const real = nodeHttp();
  let sent = 0;
  let gate: Promise<void> | undefined;
  let open = () => {};
  const hold = () => void (gate = new Promise<void>((r) => (open = r)));
  if (opts.held ?? true) hold();
  return {
    http: async (request) => {
      sent++;
      const answer = await real(request);
      await gate;
      return answer;
    },
    sent: () => sent,
    untilSent: async () => {
      while (sent === 0) await new Promise((r) => setTimeout(r, 5));
    },
    hold,
    release: () => {
      gate = undefined;
      open();
    },
  };
}
