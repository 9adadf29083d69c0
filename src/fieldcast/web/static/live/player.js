// The room: plays the HLS stream (hls.js, or the browser's own HLS on iOS Safari), follows the
// session through the room socket (state, pinned card, shelf, co-stream partner; polling its API
// while the socket is down), and in a replay seeks to each "explaining now" mark. The socket's
// chat, draw and counter frames go to the real-time panel (room_live.js), whose likes and flowers
// go back over the same socket. The shelf's live stock, flash sales, purchase toasts and the buy
// sheet are shelf.js's and buy.js's. Strings come from data-t-* attributes.
import { ensureSession } from "../session.js";
import "./countdown.js";
import { afterTheSheet } from "./buy.js";
import "./me.js"; // the viewer's own state in the room (follows, moderator tools, a mute, ...)
import { startRoomLive } from "./room_live.js";
import { roomSocket } from "./room_socket.js";
import { startShelf } from "./shelf.js";
import "./stage.js";

const POLL_MS = 4000;
const RETRY_MS = 2500;
const LIVE_CONFIG = {
  lowLatencyMode: true,
  liveSyncDurationCount: 2,
  liveMaxLatencyDurationCount: 6,
  maxLiveSyncPlaybackRate: 1.2,
  backBufferLength: 10,
  manifestLoadingMaxRetry: 4,
  levelLoadingMaxRetry: 6,
  fragLoadingMaxRetry: 6,
};
const REPLAY_CONFIG = { backBufferLength: 60 };

const room = document.getElementById("room");
const t = room.dataset;
const message = document.getElementById("room-message");

function say(text) {
  message.replaceChildren();
  if (text) {
    const p = document.createElement("p");
    p.textContent = text;
    message.append(p);
  }
  message.hidden = !text;
}

// -- playing -----------------------------------------------------------------------------------

function tryPlay(video, onBlocked) {
  const started = video.play();
  if (started && typeof started.catch === "function") started.catch(onBlocked);
}

/** Attach `url` to `video`; retry quietly while a live playlist is not there yet. */
function attach(video, url, { live, onWaiting, onPlaying }) {
  const Hls = window.Hls;
  let hls = null;
  let retry = null;
  let stopped = false;
  video.muted = true;
  video.addEventListener("playing", onPlaying);

  const again = () => {
    if (stopped) return;
    onWaiting();
    clearTimeout(retry);
    retry = setTimeout(start, RETRY_MS);
  };

  function start() {
    if (stopped) return;
    if (Hls && Hls.isSupported()) {
      if (hls) hls.destroy();
      hls = new Hls(live ? LIVE_CONFIG : REPLAY_CONFIG);
      let recovered = false;
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered) {
          recovered = true;
          hls.recoverMediaError();
          return;
        }
        again();
      });
      hls.on(Hls.Events.MANIFEST_PARSED, () => tryPlay(video, () => onWaiting(true)));
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = url;
      video.addEventListener("error", again, { once: true });
      tryPlay(video, () => onWaiting(true));
    } else {
      say(t.tUnsupported);
    }
  }

  start();
  return () => {
    stopped = true;
    clearTimeout(retry);
    if (hls) hls.destroy();
  };
}

const video = document.getElementById("room-video");
const unmute = document.getElementById("room-unmute");

function showUnmute() {
  unmute.textContent = video.muted ? t.tUnmute : t.tMute;
  unmute.hidden = false;
}

if (video.dataset.src) {
  attach(video, video.dataset.src, {
    live: Boolean(video.dataset.live),
    onWaiting: (blocked) => {
      if (blocked) {
        unmute.textContent = t.tTapPlay;
        unmute.hidden = false;
      } else if (video.dataset.live) {
        say(t.tWaiting);
      }
    },
    onPlaying: () => {
      say("");
      showUnmute();
    },
  });
}

unmute.addEventListener("click", () => {
  if (video.paused) {
    video.muted = false;
    tryPlay(video, () => {
      video.muted = true;
      tryPlay(video, () => {});
    });
  } else {
    video.muted = !video.muted;
  }
  showUnmute();
});
video.addEventListener("volumechange", () => {
  if (!unmute.hidden) showUnmute();
});

const partner = document.getElementById("partner-video");
if (partner && partner.dataset.src) {
  attach(partner, partner.dataset.src, { live: true, onWaiting: () => {}, onPlaying: () => {} });
}

// -- replay marks ------------------------------------------------------------------------------

for (const button of document.querySelectorAll("[data-seek]")) {
  button.addEventListener("click", () => {
    const offset = Number(button.dataset.seek);
    if (!Number.isFinite(offset)) return;
    video.currentTime = offset;
    tryPlay(video, () => {});
    video.scrollIntoView({ block: "nearest", behavior: "smooth" });
  });
}

// -- following the session ---------------------------------------------------------------------

/** What, when it changes, needs the page rebuilt rather than patched. */
function structure(state, replayState, partnerId, partnerHls, shelfIds) {
  return [state, replayState, partnerId || "", partnerHls ? "y" : "", shelfIds].join("|");
}

const initial = structure(t.state, t.replayState, t.partnerId, t.partnerHls, t.shelfIds);
const shop = startShelf();

function showPinned(skuId) {
  const slot = document.getElementById("pinned-slot");
  const section = document.getElementById("pinned");
  for (const card of document.querySelectorAll("#shelf [data-sku-id]")) {
    card.classList.toggle("is-pinned", card.dataset.skuId === skuId);
  }
  const source = skuId ? document.querySelector(`#shelf [data-sku-id="${CSS.escape(skuId)}"]`) : null;
  slot.replaceChildren();
  if (source) slot.append(source.cloneNode(true));
  section.hidden = !source;
  room.dataset.pinnedSku = skuId;
}

function applyDetail(d) {
  const shelfIds = [...d.shelf, ...d.partner_shelf].map((x) => x.id).join(",");
  const partner = d.co_stream;
  const now = structure(d.state, d.replay_state, partner ? String(partner.session_id) : "", partner && partner.hls_url, shelfIds);
  if (now !== initial) {
    afterTheSheet(() => window.location.reload()); // never in the middle of buying or paying
    return;
  }
  shop.shelf(d); // before the pinned card is copied from the shelf, so it copies what is current
  const pinned = d.pinned_sku_id ? String(d.pinned_sku_id) : "";
  if (pinned !== room.dataset.pinnedSku) showPinned(pinned);
}

let etag = null;
async function poll() {
  if (document.hidden) return;
  let response;
  try {
    response = await fetch(t.apiUrl, { headers: etag ? { "If-None-Match": etag, accept: "application/json" } : { accept: "application/json" } });
  } catch {
    return; // offline for a moment: try again next round
  }
  if (response.status !== 200) return;
  etag = response.headers.get("ETag");
  applyDetail(await response.json());
}

// The room socket (docs/events.md) pushes changes as they happen; polling is the fallback while
// it is down. A reconnect resumes after the last event id seen, so nothing is missed.
let lastId = null;
let polling = null;
const socket = roomSocket(t.sessionId, {
  frame: (frame) => handleEvent(frame),
  resumeAfter: () => lastId,
  up: () => {
    if (polling) {
      clearInterval(polling);
      polling = null;
    }
  },
  down: () => {
    polling = polling || setInterval(poll, POLL_MS);
  },
});
const send = (message) => socket.send(message);
// Playback is reported once per socket (room_socket.js): sockets that never play are not viewers.
video.addEventListener("playing", () => socket.playing());

const panel = startRoomLive(send);

function handleEvent(frame) {
  if (!frame || typeof frame !== "object") return; // "pong"
  if (!frame.id) {
    // Volatile frames (room.counters) have no id: never resumed, never deduplicated.
    if (frame.type !== "snapshot") {
      panel(frame);
      return;
    }
  }
  if (frame.type === "snapshot") {
    lastId = frame.last_id;
    applyDetail(frame.data);
    panel(frame); // catches up on chat lines and draws the page or a reconnect missed
    return;
  }
  if (lastId !== null && frame.id <= lastId) return;
  lastId = frame.id;
  if (frame.type === "session.pinned") {
    showPinned(frame.data.sku_id ? String(frame.data.sku_id) : "");
  } else if (frame.type === "session.state" || frame.type === "shelf.changed" || frame.type === "costream.changed") {
    poll(); // the detail says whether the page needs rebuilding
  } else if (!shop.frame(frame)) {
    panel(frame);
  }
}

if (t.state === "scheduled" || t.state === "live" || (t.state === "ended" && t.replayState === "processing")) {
  // A page from the shared cache has no session yet: start one first, so this viewer is counted.
  if (t.sessionId && "WebSocket" in window) ensureSession().finally(socket.start);
  else setInterval(poll, POLL_MS);
}
