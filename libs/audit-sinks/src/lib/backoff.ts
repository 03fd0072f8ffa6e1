export interface BackoffPolicy {
  initialDelay: number;
  maxDelay: number;
}

/**
 * Exponential backoff with "equal jitter": the n-th retry waits between half and all of
 * min(maxDelay, initialDelay * 2^(n-1)), so many sinks failing together spread out, yet a
 * retry never comes sooner than half its step. `random` is Math.random's contract, [0, 1).
 */
export function retryDelay(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const step = Math.min(policy.maxDelay, policy.initialDelay * 2 ** exponent);
  return Math.round(step / 2 + random() * (step / 2));
}
