// A KvBucket over NATS JetStream: a KV bucket for values within the server's max_payload, and an
// object store beside it for larger ones (the KV then holds a pointer), both replicated by the NATS
// cluster and kept on disk across restarts. With nats-bus.ts, the only modules importing `nats`.
import { StorageType, type JetStreamClient, type KV, type NatsConnection, type ObjectStore } from 'nats';
import type { KvBucket, KvBucketOptions } from './kv.ts';

/** Marks a KV value whose bytes live in the object store under the same name. */
const POINTER = Buffer.from('\u0000sluice-object\u0000');
/** Room left under max_payload for the message's headers. */
const HEADROOM_BYTES = 4096;

export async function openNatsKv(nc: NatsConnection, bucket: string, o: KvBucketOptions): Promise<KvBucket> {
  const js: JetStreamClient = nc.jetstream({ timeout: o.timeoutMs });
  // No direct gets: a follower may answer them before it has a write or a purge, and a purged
  // answer served again would break the admin purge and invalidation. Reads go to the stream leader.
  const kv = await js.views.kv(bucket, { replicas: o.replicas, ttl: o.ttlMs, history: 1, storage: StorageType.File, allow_direct: false });
  let os: ObjectStore | undefined;
  const objects = async (): Promise<ObjectStore> => {
    os ??= await js.views.os(`${bucket}_big`, { replicas: o.replicas, ttl: o.ttlMs * 1_000_000, storage: StorageType.File });
    return os;
  };
  const maxInline = Math.max(1024, nc.info?.max_payload ? nc.info.max_payload - HEADROOM_BYTES : 1_048_576 - HEADROOM_BYTES);
  return new NatsKv(kv, objects, maxInline);
}

class NatsKv implements KvBucket {
  constructor(private readonly kv: KV, private readonly objects: () => Promise<ObjectStore>, private readonly maxInline: number) {}

  async get(key: string): Promise<Uint8Array | null> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT') return null;
    if (isPointer(e.value)) return (await this.objects()).getBlob(key);
    return e.value;
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    if (value.byteLength <= this.maxInline && !isPointer(value)) { await this.kv.put(key, value); return; }
    await (await this.objects()).putBlob({ name: key }, value);
    await this.kv.put(key, POINTER);
  }

  async delete(key: string): Promise<void> {
    const e = await this.kv.get(key);
    await this.kv.purge(key);
    if (e && isPointer(e.value)) await (await this.objects()).delete(key).catch(() => undefined);
  }

  async keys(filter?: string): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys(filter)) out.push(k);
    return out;
  }
}

const isPointer = (v: Uint8Array): boolean => v.byteLength === POINTER.byteLength && Buffer.from(v).equals(POINTER);
