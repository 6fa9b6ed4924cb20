// The dashboard feed over HTTP as server-sent events: `snapshot` once (the whole window), then one
// `tick` per sample. A page that falls a megabyte behind is cut off; it reconnects and starts over
// from a fresh snapshot instead of the node buffering without bound.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DashboardFeed, FeedEvent, Subscriber } from './feed.ts';

const MAX_BUFFERED_BYTES = 1024 * 1024;
/** How long a browser waits before reconnecting after the stream ends. */
const RETRY_MS = 2_000;

export function streamFeed(req: IncomingMessage, res: ServerResponse, feed: DashboardFeed): void {
  const sub: Subscriber = {
    send: (e: FeedEvent) => {
      if (res.writableLength > MAX_BUFFERED_BYTES || res.destroyed) return false;
      res.write(`event: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
      return true;
    },
    close: () => { if (!res.writableEnded) res.end(); },
  };
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no', // a proxy in front must pass events on as they come
  });
  res.write(`retry: ${RETRY_MS}\n\n`);
  if (!feed.subscribe(sub)) {
    res.end('event: busy\ndata: {}\n\n');
    return;
  }
  req.socket.setNoDelay(true);
  res.on('close', () => feed.unsubscribe(sub));
}
