// The event big screen (templates/analytics/screen.html). The page arrives whole; from then on:
// - one room socket per live room (room_socket.js, as the room page opens it): room.counters move
//   that room's viewers and likes and the event's sums at once; room.purchase adds a line to the
//   ticker (the buyer's province only, never a name) and reads the figures again soon after;
//   session.state (a room going live or ending) reads them again at once;
// - GET /api/v1/events/<slug>/metrics every data-refresh-ms (10 s), so the totals, GMV side by
//   side, the leaderboard, the products and the map stay exact whatever a socket missed.
// The map is ECharts (vendored) over the vendored china.json; labels come from data-t-* attributes.
import { roomSocket } from "./room_socket.js";
import { fill, yuan } from "./shelf.js";

const screen = document.getElementById("screen");
const t = screen ? screen.dataset : {};
const stateNames = JSON.parse(t.tState || "{}");
const AFTER_PURCHASE_MS = 2500;
const TICKER_MAX = 8;
const TICKER_MAX_AGE_MS = 60_000; // purchases replayed after a reconnect: old news

let metrics = null; // the last figures read from the API
const live = new Map(); // session id -> {socket, counters: the last room.counters data}

function set(slot, value) {
  if (!slot || slot.textContent === value) return;
  slot.textContent = value;
  slot.classList.add("bs-bump");
  setTimeout(() => slot.classList.remove("bs-bump"), 800);
}

function kpi(name, value) {
  set(screen.querySelector(`[data-k="${name}"]`), value);
}

function percent(x) {
  return `${(Number(x) * 100).toFixed(1)}%`;
}

function beijingTime(iso) {
  return new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  }).format(new Date(iso));
}

// -- rooms -----------------------------------------------------------------------------------------

function roomCard(id) {
  return screen.querySelector(`[data-rooms] [data-session-id="${Number(id)}"]`);
}

function newCard(room) {
  const card = document.getElementById("screen-room-template").content.firstElementChild.cloneNode(true);
  card.dataset.sessionId = String(room.session_id);
  return card;
}

function field(card, name, value) {
  const slot = card.querySelector(`[data-f="${name}"]`);
  if (slot) set(slot, value);
}

/** A room's figures: the API's, with the socket's counters over them while it is live (they lead). */
function drawRoom(room) {
  let card = roomCard(room.session_id);
  if (!card) {
    card = newCard(room);
    screen.querySelector("[data-rooms]").append(card);
  }
  card.dataset.state = room.state;
  const counters = live.get(room.session_id)?.counters;
  const viewers = counters ? counters.viewers : room.viewers;
  const likes = counters ? Math.max(counters.likes, room.totals.likes) : room.totals.likes;
  field(card, "state", stateNames[room.state] || room.state);
  field(card, "title", room.title);
  field(card, "hosts", room.hosts.join("、"));
  field(card, "viewers", viewers === null || viewers === undefined ? "—" : String(viewers));
  field(card, "likes", String(likes));
  field(card, "paid_orders", String(room.totals.paid_orders));
  field(card, "paid", yuan(room.gmv.paid_fen));
  field(card, "verified", yuan(room.gmv.verified_fen));
}

/** The event's viewers on now and likes: the API's figures, with each live socket's newer ones. */
function drawLiveSums() {
  if (!metrics) return;
  let viewers = metrics.totals.viewers;
  let likes = 0;
  for (const room of metrics.rooms) {
    const counters = live.get(room.session_id)?.counters;
    likes += counters ? Math.max(counters.likes, room.totals.likes) : room.totals.likes;
  }
  if (viewers !== null) {
    viewers = 0;
    for (const room of metrics.rooms) {
      if (room.state !== "live") continue;
      const counters = live.get(room.session_id)?.counters;
      viewers += counters ? counters.viewers : room.viewers || 0;
    }
  }
  kpi("viewers", viewers === null ? "—" : String(viewers));
  kpi("likes", String(likes));
}

// -- lists -----------------------------------------------------------------------------------------

function cell(className, text) {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  return span;
}

function drawBoard(m) {
  const board = screen.querySelector("[data-leaderboard]");
  board.replaceChildren(
    ...m.leaderboard.slice(0, 6).map((x) => {
      const li = document.createElement("li");
      li.dataset.sessionId = String(x.session_id);
      li.append(cell("bs-rank", String(x.rank)), cell("bs-name", x.title), cell("bs-money", yuan(x.paid_fen)), cell("bs-money bs-muted", yuan(x.verified_fen)));
      return li;
    }),
  );
  const products = screen.querySelector("[data-products]");
  products.replaceChildren(
    ...m.products.slice(0, 5).map((p, i) => {
      const li = document.createElement("li");
      li.dataset.skuId = String(p.sku_id);
      li.append(cell("bs-rank", String(i + 1)), cell("bs-name", `${p.title} ${p.spec_label}`.trim()), cell("bs-units", `× ${p.units}`), cell("bs-money", yuan(p.paid_fen)));
      return li;
    }),
  );
  const provinces = screen.querySelector("[data-provinces]");
  provinces.replaceChildren(
    ...m.provinces.slice(0, 5).map((p) => {
      const li = document.createElement("li");
      li.dataset.code = p.code;
      const count = document.createElement("strong");
      count.textContent = String(p.buyers);
      li.append(cell("", p.name), document.createTextNode(" "), count);
      return li;
    }),
  );
}

// -- the map ---------------------------------------------------------------------------------------

let map = null;
const mapNames = new Map(); // province code ("420000") -> the map's feature name ("湖北")

async function startMap() {
  const box = screen.querySelector("[data-map]");
  if (!box || !window.echarts) return;
  try {
    const response = await fetch("/static/vendor/china.json");
    if (!response.ok) return;
    const geo = await response.json();
    for (const feature of geo.features || []) {
      const code = String(feature.id || feature.properties?.id || "");
      if (code) mapNames.set(code, feature.properties.name);
    }
    window.echarts.registerMap("china", geo);
  } catch {
    return; // no map: the list of provinces beside it still says it
  }
  map = window.echarts.init(box, null, { renderer: "canvas" });
  window.addEventListener("resize", () => map.resize());
  drawMap(metrics ? metrics.provinces : JSON.parse(box.dataset.initialProvinces || "[]")); // as the page was drawn
}

function drawMap(provinces) {
  if (!map) return;
  const data = provinces
    .filter((p) => mapNames.has(p.code))
    .map((p) => ({ name: mapNames.get(p.code), value: p.buyers, paid: p.paid_fen, label: p.name }));
  const most = Math.max(1, ...data.map((d) => d.value));
  map.setOption({
    animation: false,
    tooltip: {
      trigger: "item",
      formatter: (item) => (item.data ? `${item.data.label}<br>${t.tBuyers}: ${item.data.value}<br>${t.tPaid}: ${yuan(item.data.paid)}` : item.name),
    },
    visualMap: {
      type: "continuous",
      min: 0,
      max: most,
      left: 0,
      bottom: 0,
      itemHeight: Math.round(window.innerHeight * 0.12),
      calculable: false,
      text: [String(most), "0"],
      textStyle: { color: "#eef3ff", fontSize: Math.round(window.innerHeight * 0.015) },
      inRange: { color: ["#24406e", "#3f7fbf", "#ffd666", "#ff8a3d"] },
    },
    series: [
      {
        type: "map",
        map: "china",
        roam: false,
        left: "10%",
        right: "2%",
        top: "2%",
        bottom: "2%",
        label: { show: false },
        itemStyle: { areaColor: "#16284a", borderColor: "#5d7bb0", borderWidth: 0.6 },
        emphasis: { label: { show: true, color: "#fff" }, itemStyle: { areaColor: "#ffd666" } },
        select: { disabled: true },
        data,
      },
    ],
  });
}

// -- the ticker ------------------------------------------------------------------------------------

function purchased(frame) {
  const at = Date.parse(frame.at || "");
  if (!Number.isNaN(at) && Date.now() - at > TICKER_MAX_AGE_MS) return;
  const data = frame.data || {};
  const values = { province: data.province || "", n: Number(data.quantity) || 1, title: data.title || "" };
  const line = document.createElement("li");
  line.dataset.testid = "screen-purchase";
  line.textContent = `${beijingTime(Number.isNaN(at) ? Date.now() : at).slice(0, 5)} ${fill(data.province ? t.tPurchase : t.tPurchaseAnon, values)}`;
  const ticker = screen.querySelector("[data-ticker]");
  ticker.querySelector("[data-ticker-empty]")?.remove();
  ticker.prepend(line);
  while (ticker.children.length > TICKER_MAX) ticker.lastElementChild.remove();
}

// -- figures ---------------------------------------------------------------------------------------

function draw(m) {
  metrics = m;
  const tt = m.totals;
  kpi("unique_viewers", String(tt.unique_viewers));
  kpi("orders", `${tt.paid_orders} / ${tt.orders}`);
  kpi("buyers", String(tt.buyers));
  kpi("conversion", percent(tt.conversion));
  kpi("raw", yuan(m.gmv.raw_fen));
  kpi("paid", yuan(m.gmv.paid_fen));
  kpi("refunded", yuan(m.gmv.refunded_fen));
  kpi("flagged", yuan(m.gmv.flagged_fen));
  kpi("verified", yuan(m.gmv.verified_fen));
  screen.querySelector("[data-k=as_of]").textContent = fill(t.tAsOf, { time: beijingTime(m.as_of) });
  const shown = new Set(m.rooms.map((r) => r.session_id));
  for (const card of screen.querySelectorAll("[data-rooms] [data-session-id]")) {
    if (!shown.has(Number(card.dataset.sessionId))) card.remove();
  }
  for (const room of m.rooms) drawRoom(room);
  // In the API's order (live rooms first): appending a card that is there moves it.
  screen.querySelector("[data-rooms]").append(...m.rooms.map((room) => roomCard(room.session_id)));
  drawLiveSums();
  drawBoard(m);
  drawMap(m.provinces);
  follow(m);
  screen.dataset.loaded = "true";
}

let timer = null;
async function load() {
  clearTimeout(timer);
  let fresh = false;
  try {
    const response = await fetch(`/api/v1/events/${encodeURIComponent(t.slug)}/metrics`, { headers: { Accept: "application/json" } });
    if (response.ok) {
      draw(await response.json());
      fresh = true;
    }
  } catch {
    // offline for a moment: the next round tries again
  }
  const asOf = screen.querySelector("[data-k=as_of]");
  asOf.toggleAttribute("data-offline", !fresh);
  if (!fresh) asOf.textContent = t.tOffline; // the figures on screen are no longer current
  timer = setTimeout(load, Number(t.refreshMs) || 10_000);
}

function soon(ms) {
  clearTimeout(timer);
  timer = setTimeout(load, ms);
}

// -- sockets ---------------------------------------------------------------------------------------

function onFrame(sessionId, frame) {
  const entry = live.get(sessionId);
  if (!entry) return;
  if (frame.type === "snapshot" && frame.counters) {
    entry.counters = frame.counters;
  } else if (frame.type === "room.counters") {
    entry.counters = frame.data || {};
  } else if (frame.type === "room.purchase") {
    purchased(frame);
    soon(AFTER_PURCHASE_MS);
    return;
  } else if (frame.type === "session.state") {
    soon(0);
    return;
  } else {
    return;
  }
  if (metrics) {
    const room = metrics.rooms.find((r) => r.session_id === sessionId);
    if (room) drawRoom(room);
    drawLiveSums();
  }
}

/** One socket per live room, opened as a room goes live (kept open once opened: the room socket
 * closes itself with 4404 if the room goes away, and an ended room just falls quiet). */
function follow(m) {
  for (const room of m.rooms) {
    if (room.state !== "live" || live.has(room.session_id)) continue;
    const id = room.session_id;
    const entry = { counters: null, lastId: null, socket: null };
    live.set(id, entry);
    entry.socket = roomSocket(id, {
      frame: (frame) => {
        if (typeof frame.id === "number") entry.lastId = frame.id;
        if (frame.type === "snapshot" && typeof frame.last_id === "number") entry.lastId = frame.last_id;
        onFrame(id, frame);
      },
      resumeAfter: () => entry.lastId,
    });
    entry.socket.start();
  }
}

if (screen) {
  // The page as drawn stands until the API answers; the sockets open from its first answer.
  startMap();
  load();
}
