// Budget standing as response headers: OpenAI-style x-ratelimit-* for requests and tokens, x-tollgate-budget-* for USD.
import type { LimitStanding } from '../ledger/ledger.ts';
import { microsToUsdText } from '../pricing/money.ts';
import { formatResetDuration } from './duration.ts';

const TOKEN_METRICS = new Set(['input_tokens', 'output_tokens', 'total_tokens']);

/**
 * Headers for the tightest limit (least remaining; on a tie, the one that resets first) of each kind among `standings`.
 * Standings read after the reservation include this request's hold. No headers when there are no standings.
 */
export function standingHeaders(standings: readonly LimitStanding[]): Record<string, string> {
  // the tightest of each kind in one pass (this runs on every governed call)
  let requests: LimitStanding | null = null;
  let tokens: LimitStanding | null = null;
  let usd: LimitStanding | null = null;
  for (const standing of standings) {
    if (standing.metric === 'requests') requests = tighter(requests, standing);
    else if (TOKEN_METRICS.has(standing.metric)) tokens = tighter(tokens, standing);
    else if (standing.metric === 'usd_micros') usd = tighter(usd, standing);
  }
  const headers: Record<string, string> = {};
  if (requests) {
    headers['x-ratelimit-limit-requests'] = String(requests.limit);
    headers['x-ratelimit-remaining-requests'] = String(requests.remaining);
    headers['x-ratelimit-reset-requests'] = formatResetDuration(requests.resetMs ?? 0);
  }
  if (tokens) {
    headers['x-ratelimit-limit-tokens'] = String(tokens.limit);
    headers['x-ratelimit-remaining-tokens'] = String(tokens.remaining);
    headers['x-ratelimit-reset-tokens'] = formatResetDuration(tokens.resetMs ?? 0);
  }
  if (usd) {
    headers['x-tollgate-budget-limit-usd'] = microsToUsdText(usd.limit);
    headers['x-tollgate-budget-remaining-usd'] = microsToUsdText(usd.remaining);
    headers['x-tollgate-budget-reset-usd'] = formatResetDuration(usd.resetMs ?? 0);
  }
  return headers;
}

/** The tighter of two: less remaining; on a tie, the one that resets first (the first seen when both tie). */
function tighter(best: LimitStanding | null, standing: LimitStanding): LimitStanding {
  if (!best || standing.remaining < best.remaining || (standing.remaining === best.remaining && (standing.resetMs ?? 0) < (best.resetMs ?? 0))) return standing;
  return best;
}
