// The host's cockpit (live/console.html): what viewers see (the show's HLS, muted), the room's
// counters with a small chart of viewers, the chat with remove and mute inline (room_live.js, the
// same panel as the room's), each shelf item's stock left, and tabs for draws, co-streams and the
// stream key, and the dashboard (dashboard.js). It follows the room socket as a viewer's page does;
// nothing here writes but the
// chat and moderation forms, which go through the room's API.
import { ensureSession } from "../session.js";
import { startRoomLive } from "./room_live.js";
import { roomSocket } from "./room_socket.js";
import { fill } from "./shelf.js";

const root = document.getElementById("console");
const CHART_POINTS = 60;
const RETRY_MS = 3000; // the programme's playlist may not be there yet

// -- what viewers see ----------------------------------------------------------------------------

function program() {
  const video = document.getElementById("program-video");
  if (!video || !video.dataset.src) return;
  const url = video.dataset.src;
  const Hls = window.Hls;
  video.muted = true;
  if (Hls && Hls.isSupported()) {
    const hls = new Hls({ lowLatencyMode: true, liveSyncDurationCount: 2, manifestLoadingMaxRetry: 6, levelLoadingMaxRetry: 6 });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      hls.destroy();
      setTimeout(program, RETRY_MS); // the playlist may not be there yet
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    video.play()?.catch(() => {});
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url;
    video.play()?.catch(() => {});
  }
}

// -- counters and their chart --------------------------------------------------------------------

const viewers = [];
function chart(count) {
  const line = document.querySelector("[data-testid=viewers-chart] polyline");
  if (!line) return;
  viewers.push(Number(count) || 0);
  if (viewers.length > CHART_POINTS) viewers.shift();
  const top = Math.max(1, ...viewers);
  const step = 120 / Math.max(1, CHART_POINTS - 1);
  line.setAttribute("points", viewers.map((v, i) => `${(i * step).toFixed(1)},${(29 - (v / top) * 28).toFixed(1)}`).join(" "));
}

function stockLeft(skuId, available) {
  for (const slot of document.querySelectorAll(`[data-console-left][data-sku-id="${Number(skuId)}"]`)) {
    slot.textContent = available > 0 ? fill(slot.dataset.tLeft, { n: available }) : slot.dataset.tSoldOut;
  }
}

// -- the room socket -----------------------------------------------------------------------------

function follow() {
  if (!root || !("WebSocket" in window)) return;
  let lastId = null;
  let panel = () => false;
  const socket = roomSocket(root.dataset.sessionId, {
    resumeAfter: () => lastId,
    frame(frame) {
      if (!frame || typeof frame !== "object") return;
      root.dispatchEvent(new CustomEvent("cockpit:frame", { detail: frame })); // the dashboard tab
      if (frame.type === "room.counters") chart((frame.data || {}).viewers);
      if (frame.type === "snapshot") {
        lastId = frame.last_id;
        for (const item of (frame.data && frame.data.shelf) || []) stockLeft(item.sku_id, item.available);
      } else if (frame.id) {
        if (lastId !== null && frame.id <= lastId) return;
        lastId = frame.id;
      }
      if (frame.type === "shelf.stock") {
        const data = frame.data || {};
        stockLeft(data.sku_id, data.sold_out ? 0 : data.available);
        return;
      }
      panel(frame);
    },
  });
  panel = startRoomLive(socket.send);
  ensureSession().finally(socket.start);
}

// -- tabs ------------------------------------------------------------------------------------------

const tabs = document.querySelector("[data-cockpit-tabs]");
let chosen = null;
function showTab(id) {
  if (!tabs) return;
  chosen = id;
  for (const tab of tabs.querySelectorAll("[role=tab]")) {
    const on = tab.getAttribute("aria-controls") === id;
    tab.setAttribute("aria-selected", String(on));
    tab.classList.toggle("secondary", !on);
    const panel = document.getElementById(tab.getAttribute("aria-controls"));
    if (panel) panel.hidden = !on;
  }
}
if (tabs) {
  tabs.hidden = false;
  tabs.addEventListener("click", (event) => {
    const tab = event.target instanceof Element ? event.target.closest("[role=tab]") : null;
    if (tab) showTab(tab.getAttribute("aria-controls"));
  });
  // A panel with a message or an error (a form sent from it) is the one to show.
  const flagged = [...document.querySelectorAll("[role=tabpanel]")].find((p) => p.querySelector(".form-message, .field-error, [aria-invalid=true]"));
  showTab(flagged ? flagged.id : tabs.querySelector("[role=tab]").getAttribute("aria-controls"));
  // console.js swaps panels in from the server's answer: keep the chosen one showing.
  document.addEventListener("console:swapped", () => showTab(chosen));
}

// -- phones: the chat and the shelf as sheets --------------------------------------------------

function sheet(id, open) {
  const panel = document.getElementById(id);
  if (!panel) return;
  for (const other of document.querySelectorAll(".cockpit-sheet.open")) if (other !== panel) other.classList.remove("open");
  panel.classList.toggle("open", open);
  for (const button of document.querySelectorAll("[data-sheet-open]")) {
    button.setAttribute("aria-expanded", String(button.dataset.sheetOpen === id && open));
  }
}
for (const button of document.querySelectorAll("[data-sheet-open]")) {
  button.addEventListener("click", () => sheet(button.dataset.sheetOpen, !document.getElementById(button.dataset.sheetOpen)?.classList.contains("open")));
}
for (const button of document.querySelectorAll("[data-sheet-close]")) {
  button.addEventListener("click", () => sheet(button.closest(".cockpit-sheet").id, false));
}
document.addEventListener("keydown", (event) => {
  const open = document.querySelector(".cockpit-sheet.open");
  if (event.key === "Escape" && open) sheet(open.id, false);
});

if (root && (root.dataset.state === "live" || root.dataset.state === "scheduled")) {
  program();
  follow();
}
