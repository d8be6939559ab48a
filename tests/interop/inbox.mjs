// Shared by the Node interop tests: a timeout wrapper, and an inbox of received items that
// tests consume in order by predicate (nothing is dropped, even when several arrive at once).

/** `promise`, or a rejection after `ms` (the timer is cleared either way). */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export class Inbox {
  items = [];
  waiters = [];
  /** @param {(x: any) => string} show how items are printed when a wait times out */
  constructor(show = String) {
    this.show = show;
  }
  push(x) {
    this.items.push(x);
    for (const w of [...this.waiters]) w();
  }
  take(pred) {
    const i = this.items.findIndex(pred);
    return i < 0 ? undefined : this.items.splice(i, 1)[0];
  }
  async waitFor(pred, what, ms = 15_000) {
    let waiter;
    let done = false;
    const found = new Promise((resolve) => {
      waiter = () => {
        // Several items may be pushed in one tick: take only one.
        if (done) return;
        const x = this.take(pred);
        if (x !== undefined) {
          done = true;
          resolve(x);
        }
      };
      this.waiters.push(waiter);
      waiter();
    });
    try {
      return await withTimeout(found, ms, `${what}; have: ${this.items.map(this.show).join(" | ")}`);
    } finally {
      done = true;
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
    }
  }
}
