/**
 * First in, first out, in O(1) per operation: a head index into an array, compacted once the
 * consumed part is more than half of it (Array#shift copies the whole array every time).
 */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as T; // let it be collected
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!;
  }
}

/**
 * Items queued per tenant (a namespace), handed out one tenant at a time in turn: FIFO within
 * a tenant, round-robin between tenants. An item of a tenant that has nothing queued waits
 * behind at most one item of every other tenant with queued items, however many those hold;
 * under plain FIFO it waited behind all of them (a namespace annotating a thousand resources
 * for rotation delayed every other namespace's due rotation by the whole herd).
 */
export class RoundRobin<T> {
  private readonly queues = new Map<string, Fifo<T>>();
  /** tenants with queued items, in turn order */
  private readonly turns = new Fifo<string>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** tenants with something queued */
  get tenants(): number {
    return this.queues.size;
  }

  push(tenant: string, item: T): void {
    let q = this.queues.get(tenant);
    if (!q) {
      q = new Fifo<T>();
      this.queues.set(tenant, q);
      this.turns.push(tenant);
    }
    q.push(item);
    this.count++;
  }

  /** the next item: the oldest of the tenant whose turn it is; that tenant goes to the back */
  shift(): T | undefined {
    const tenant = this.turns.shift();
    if (tenant === undefined) return undefined;
    const q = this.queues.get(tenant)!;
    const item = q.shift()!;
    this.count--;
    if (q.length > 0) this.turns.push(tenant);
    else this.queues.delete(tenant);
    return item;
  }
}

/** The tenant of a work-queue key "namespace/name": its namespace ("" for a cluster-scoped key). */
export function tenantOf(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? '' : key.slice(0, slash);
}
