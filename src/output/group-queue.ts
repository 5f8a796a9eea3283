/**
 * Group limits of a durable store: at ~800 stamps/s a 200 ms group holds ~160 products, made durable by
 * one sync instead of one each. A kill loses at most one group's answers (asked again).
 */
export const GROUP_FILES = 512;
export const GROUP_BYTES = 64 * 1024 * 1024;
export const GROUP_MS = 200;

/**
 * Items waiting to be made durable together: a group is committed when it holds GROUP_FILES items or
 * GROUP_BYTES bytes, GROUP_MS after its first item, or on drain(). One commit runs at a time; items
 * added meanwhile form the next group. `commit` settles each item of its group itself and never rejects.
 */
export class GroupQueue<T> {
  private staged: T[] = [];
  private stagedBytes = 0;
  private groupTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private kickAgain = false;

  constructor(private readonly commit: (group: readonly T[]) => Promise<void>) {}

  /** Items waiting for their group's commit (not yet in a running one). */
  get waiting(): number {
    return this.staged.length;
  }

  /** True while nothing is staged or being committed. */
  get idle(): boolean {
    return this.staged.length === 0 && this.flushing === undefined;
  }

  /** Stage `item` (of `bytes` bytes) for the next group. */
  add(item: T, bytes: number): void {
    this.staged.push(item);
    this.stagedBytes += bytes;
    if (this.staged.length >= GROUP_FILES || this.stagedBytes >= GROUP_BYTES) this.kick();
    else this.groupTimer ??= setTimeout(() => this.kick(), GROUP_MS);
  }

  /** Commit what is staged now, and wait for the commit (and any running one) to end. */
  async flush(): Promise<void> {
    while (this.staged.length > 0 || this.flushing !== undefined) {
      this.kick();
      await this.flushing;
    }
  }

  /**
   * Start a flush of the staged items unless one runs (then ask it for another pass). `flushing` is
   * cleared only in a `.finally()` attached after the assignment: an async function whose body never
   * awaits settles synchronously, and clearing the field from inside it (as this code once did) ran
   * before the caller stored the promise, leaving a settled promise in `flushing` for ever. Every later
   * kick() then only set `kickAgain`, nothing was flushed again, and drain() spun on the settled promise.
   */
  private kick(): void {
    this.clearGroupTimer();
    if (this.flushing !== undefined) {
      this.kickAgain = true;
      return;
    }
    if (this.staged.length === 0) return;
    const run = this.flushLoop().finally(() => {
      if (this.flushing === run) this.flushing = undefined;
      this.afterFlush();
    });
    this.flushing = run;
  }

  /** Flush groups until no pass was asked for while the last one committed. Never rejects. */
  private async flushLoop(): Promise<void> {
    do {
      this.kickAgain = false;
      // The items taken now are what any armed group timer was guarding: left armed, it would fire
      // later on an empty queue.
      this.clearGroupTimer();
      const group = this.staged;
      this.staged = [];
      this.stagedBytes = 0;
      if (group.length > 0) await this.commit(group);
    } while (this.kickAgain);
  }

  /** After a flush: items staged meanwhile are flushed now if a pass was asked for, else within GROUP_MS. */
  private afterFlush(): void {
    if (this.staged.length === 0) return;
    if (this.kickAgain || this.staged.length >= GROUP_FILES || this.stagedBytes >= GROUP_BYTES) {
      this.kickAgain = false;
      this.kick();
    } else {
      this.groupTimer ??= setTimeout(() => this.kick(), GROUP_MS);
    }
  }

  private clearGroupTimer(): void {
    if (this.groupTimer !== undefined) {
      clearTimeout(this.groupTimer);
      this.groupTimer = undefined;
    }
  }
}
