// Ids from hyperdyperid: a random per-process prefix plus a counter, so ids are unique across the
// cluster and cheap on the hot path. (Its root entry is broken; import the deep files.)
import { hyperid } from 'hyperdyperid/lib/hyperid.js';
import { str10_36 } from 'hyperdyperid/lib/str10_36.js';

// Its .d.ts types the factory as the id function itself; it returns one.
const nextRequestId = (hyperid as unknown as () => () => string)();

/** A unique id for a request or slot: `<22 random chars>/<counter>`. */
export const newId = (): string => nextRequestId();

/** A short random node id when none is configured. */
export const newNodeId = (): string => 'node-' + str10_36();
