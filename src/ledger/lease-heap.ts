// A binary min-heap of items by expiry time, so expired reservation leases are found without scanning the open ones.

export interface Expiring {
  readonly expiresAt: number;
}

export class LeaseHeap<T extends Expiring> {
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const items = this.items;
    let index = items.push(item) - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (items[parent].expiresAt <= item.expiresAt) break;
      items[index] = items[parent];
      index = parent;
    }
    items[index] = item;
  }

  /** Removes and returns the earliest item if it expires at or before `now`. */
  popExpired(now: number): T | undefined {
    const items = this.items;
    if (items.length === 0 || items[0].expiresAt > now) return undefined;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) this.siftDown(last);
    return top;
  }

  /** Replaces the content (used to shed entries whose reservation already ended). */
  rebuild(live: Iterable<T>): void {
    this.items = [];
    for (const item of live) this.push(item);
  }

  private siftDown(item: T): void {
    const items = this.items;
    const count = items.length;
    let index = 0;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= count) break;
      if (child + 1 < count && items[child + 1].expiresAt < items[child].expiresAt) child += 1;
      if (items[child].expiresAt >= item.expiresAt) break;
      items[index] = items[child];
      index = child;
    }
    items[index] = item;
  }
}
