/** A sleep that `wake()` cuts short: a loop waiting between attempts stops at once when asked. */
export class Pause {
  private cut?: () => void;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.cut = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.cut = done;
    });
  }

  wake(): void {
    this.cut?.();
  }
}
