// Types of cluster-key-slot (ioredis's own dependency, shipped without types): a key's Redis Cluster hash slot.
declare module 'cluster-key-slot' {
  /** The hash slot (0-16383) of a key: CRC16 of its hash tag (`{…}`) when it has one, else of the whole key. */
  export default function calculateSlot(key: string | Buffer): number;
}
