// Live status of a job or an upload: `watch` calls `onChange(record)` each
// time the record's status changes, until it reaches a final status.
//
// Today the only source is polling the record's own route (GET /jobs/{id},
// GET /uploads/{id}) once a second. This is the seam for the realtime
// WebSocket API (issue 22): a source registered with `addSource` is asked
// first, and polling is the fallback when none takes the record.

const POLL_MS = 1000;
const sources = [];

/**
 * Registers a push source: `source(kind, id, onRecord)` returns a function
 * that stops it, or null when it cannot follow that record.
 */
export function addSource(source) {
  sources.push(source);
}

function poll(fetchOnce, onRecord) {
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      onRecord(await fetchOnce());
    } catch (error) {
      onRecord(null, error);
    }
    if (!stopped) setTimeout(tick, POLL_MS);
  };
  tick();
  return () => {
    stopped = true;
  };
}

/**
 * Follows record `id` of `kind` ("job" or "upload") until `isFinal(record)`;
 * `fetchOnce()` reads it once. Returns a function that stops following.
 */
export function watch(kind, id, fetchOnce, isFinal, onChange) {
  let last = null;
  let stop = () => undefined;
  const onRecord = (record, error) => {
    if (error) {
      onChange(null, error);
      if (error.status === 401 || error.status === 404) stop();
      return;
    }
    if (record.status !== last) {
      last = record.status;
      onChange(record);
    }
    if (isFinal(record)) stop();
  };
  for (const source of sources) {
    const stopSource = source(kind, id, onRecord);
    if (stopSource) {
      stop = stopSource;
      return () => stop();
    }
  }
  stop = poll(fetchOnce, onRecord);
  return () => stop();
}
