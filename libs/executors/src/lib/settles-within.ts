/**
 * Waits for `work` to settle (either way), but no longer than `ms`: true if it settled in
 * time. The timer is cleared whichever comes first, so a bounded wait never keeps the
 * process alive after it.
 */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
