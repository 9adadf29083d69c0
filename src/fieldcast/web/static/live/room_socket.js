// The room socket (docs/events.md), for the room page and the host's cockpit: opens
// /ws/rooms/<id>, keeps it alive with a ping, hands every frame over, and reconnects with a
// growing pause, resuming after the last event id the page has seen (so nothing is missed). A
// 4404 close (no such room) ends it. `down()` and `up()` tell the page when to poll instead.
// Once the page's video has started playing (`playing()`), every socket says so once
// ({"type": "playing"}), a reconnected one as soon as it opens: the site counts as watching only
// connections that heartbeat and play (the integrity rules on fake traffic).
const HEARTBEAT_MS = 25000; // the server closes sockets silent for 75 s
const PLAYING = '{"type":"playing"}';
const BACKOFF_MAX_MS = 30000;

/**
 * @param {number|string} sessionId
 * @param {{frame: (frame: object) => void, resumeAfter?: () => (number|null), up?: () => void, down?: () => void}} handlers
 * @returns {{start: () => void, send: (message: object) => boolean, playing: () => void}}
 */
export function roomSocket(sessionId, handlers) {
  let socket = null;
  let backoff = 1000;
  let played = false;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const last = handlers.resumeAfter ? handlers.resumeAfter() : null;
    const after = last === null || last === undefined ? "" : `?after=${last}`;
    let heartbeat = null;
    try {
      socket = new WebSocket(`${scheme}${location.host}/ws/rooms/${Number(sessionId)}${after}`);
    } catch {
      socket = null;
      handlers.down?.();
      return;
    }
    const mine = socket;
    mine.addEventListener("open", () => {
      backoff = 1000;
      if (played) mine.send(PLAYING);
      heartbeat = setInterval(() => {
        if (mine.readyState === WebSocket.OPEN) mine.send('"ping"');
      }, HEARTBEAT_MS);
      handlers.up?.();
    });
    mine.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      for (const frame of Array.isArray(message) ? message : [message]) handlers.frame(frame);
    });
    mine.addEventListener("close", (event) => {
      clearInterval(heartbeat);
      if (socket === mine) socket = null;
      if (event.code === 4404) return;
      handlers.down?.();
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    });
  }

  return {
    start: connect,
    /** Send a client message ({type: "like"|"flower", count}) if the socket is open; false if not. */
    send(message) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(message));
      return true;
    },
    /** The page's video started playing: tell the open socket, and every later one, once. */
    playing() {
      if (played) return;
      played = true;
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(PLAYING);
    },
  };
}
