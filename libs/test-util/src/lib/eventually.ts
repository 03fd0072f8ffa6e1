/**
 * Calls `check` until it returns without throwing, every `intervalMs`, and resolves with what
 * it returned; after `timeoutMs` fails with the last error `check` threw. `check` runs at least
 * once, and once more after the deadline has passed, so a slow check is never cut short.
 */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
