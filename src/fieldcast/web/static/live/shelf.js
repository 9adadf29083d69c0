// The shelf of a room, live: "N left" and sold out from shelf.stock frames (a sold-out card greys
// and its Buy is disabled on every screen), flash sales counting down to their start on the
// server's clock (the page says what time the server had when it made the page: the device's
// clock is never trusted alone; Buy is enabled the moment the sale starts), and room.purchase
// frames as short toasts over the video ("a buyer from 湖北 bought 2 × …", never a name), at most
// one every few seconds however fast a flash sale sells. player.js hands it the room's frames and
// session details. Strings come from data-t-* attributes ({name} placeholders), texts from users
// or the server are set with textContent.

const TOAST_MS = 3500;
const TOAST_MAX_AGE_MS = 60_000; // purchases replayed after a reconnect: old news, no toast

const room = document.getElementById("room");
const ct = room ? room.dataset : {};

// -- the server's clock --------------------------------------------------------------------------

/** Now on the server's clock, in ms: the time the server put in the page, plus the time elapsed
 * since its response arrived (performance.now(), which the device's clock setting cannot move).
 * The server took its time before answering, so this is never ahead of the server. */
function serverClock(iso) {
  const server = Date.parse(iso || "");
  if (Number.isNaN(server)) return () => Date.now();
  const navigation = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
  const at = navigation && navigation.responseStart > 0 ? navigation.responseStart : performance.now();
  return () => server + (performance.now() - at);
}

export const serverNow = serverClock(room?.dataset.serverNow);

const pad = (n) => String(n).padStart(2, "0");

function remaining(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${pad(Math.floor(total / 3600))}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
}

export function yuan(fen) {
  const n = Math.abs(Math.trunc(Number(fen) || 0));
  const whole = String(Math.floor(n / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${fen < 0 ? "-" : ""}¥${whole}.${pad(n % 100)}`;
}

export const fill = (template, values) =>
  Object.entries(values).reduce((text, [name, value]) => text.split(`{${name}}`).join(String(value)), template || "");

// -- the shelf's cards ---------------------------------------------------------------------------

export const cardsOf = (skuId) => document.querySelectorAll(`[data-testid="shelf-item"][data-sku-id="${Number(skuId)}"]`);

function flashStart(card) {
  const at = Date.parse(card.dataset.flashStartsAt || "");
  return Number.isNaN(at) ? null : at;
}

/** Bring one card in line with its data-available and data-flash-starts-at. */
function refreshCard(card, now = serverNow()) {
  const available = Number(card.dataset.available) || 0;
  const soldOut = available <= 0;
  card.classList.toggle("is-sold-out", soldOut);
  const left = card.querySelector("[data-left]");
  if (left) {
    left.textContent = fill(ct.tLeft, { n: available });
    left.hidden = soldOut;
  }
  const label = card.querySelector("[data-sold-out-label]");
  if (label) label.hidden = !soldOut;
  const starts = flashStart(card);
  const waiting = starts !== null && now < starts;
  const countdown = card.querySelector("[data-flash-countdown]");
  if (countdown && starts !== null) countdown.textContent = waiting ? fill(ct.tFlashIn, { time: remaining(starts - now) }) : ct.tFlashOn;
  const button = card.querySelector("[data-buy]");
  if (!button) return;
  button.disabled = soldOut || waiting;
  const text = button.querySelector("[data-buy-label]");
  if (text) text.textContent = soldOut ? ct.tSoldOut : starts !== null ? ct.tGrab : ct.tBuy;
}

/** A shelf item's stock changed (a shelf.stock frame, or a refusal: sold out). Fires
 * "shelf:stock" on the document ({skuId, sessionId, available}) for the buy sheet. */
export function setStock(skuId, sessionId, available) {
  const left = Math.max(0, Number(available) || 0);
  for (const card of cardsOf(skuId)) {
    if (sessionId && card.dataset.itemSession !== String(sessionId)) continue;
    card.dataset.available = String(left);
    refreshCard(card);
  }
  document.dispatchEvent(new CustomEvent("shelf:stock", { detail: { skuId: String(skuId), sessionId, available: left } }));
}

// Flash sales: tick on whole seconds of each countdown, so Buy is enabled the moment it starts.
let ticker = null;
function tickFlash() {
  clearTimeout(ticker);
  ticker = null;
  const now = serverNow();
  let next = Infinity;
  for (const card of document.querySelectorAll('[data-testid="shelf-item"][data-flash-starts-at]')) {
    refreshCard(card, now);
    const left = (flashStart(card) ?? now) - now;
    if (left > 0) next = Math.min(next, left % 1000 || 1000);
  }
  if (next !== Infinity) ticker = setTimeout(tickFlash, Math.max(next, 15));
}

function applyShelf(items) {
  for (const item of items || []) {
    for (const card of cardsOf(item.sku_id)) {
      if (card.dataset.itemSession !== String(item.session_id)) continue;
      card.dataset.available = String(item.available);
      card.dataset.limit = item.per_buyer_limit ? String(item.per_buyer_limit) : "";
      card.dataset.priceFen = String(item.live_price_fen);
      if (item.flash_starts_at) card.dataset.flashStartsAt = item.flash_starts_at;
      else delete card.dataset.flashStartsAt;
      refreshCard(card);
    }
  }
  tickFlash();
}

// -- purchase toasts -----------------------------------------------------------------------------

const toasts = document.getElementById("purchase-toasts"); // only while the show is live
const tt = toasts ? toasts.dataset : {};
let toastShowing = false;
let toastMore = 0;

function toast(text) {
  if (!toasts) return;
  toastShowing = true;
  const item = document.createElement("p");
  item.className = "purchase-toast";
  item.dataset.testid = "purchase-toast";
  item.textContent = text;
  toasts.replaceChildren(item);
  setTimeout(() => {
    item.remove();
    toastShowing = false;
    if (toastMore > 0) {
      const n = toastMore;
      toastMore = 0;
      const one = new Intl.PluralRules(document.documentElement.lang || "zh-CN").select(n) === "one";
      toast(fill(one ? tt.tPurchaseMoreOne : tt.tPurchaseMore, { n }));
    }
  }, TOAST_MS);
}

function purchased(frame) {
  const at = Date.parse(frame.at || "");
  if (!Number.isNaN(at) && serverNow() - at > TOAST_MAX_AGE_MS) return;
  const data = frame.data || {};
  if (toastShowing) {
    toastMore += 1; // a flash sale's rush becomes one "N more orders" line, not a flood
    return;
  }
  const values = { province: data.province || "", n: Number(data.quantity) || 1, title: data.title || "" };
  toast(fill(data.province ? tt.tPurchase : tt.tPurchaseAnon, values));
}

/** Start following the shelf; player.js hands it every room frame and session detail. */
export function startShelf() {
  tickFlash();
  return {
    /** shelf.stock and room.purchase frames; true when handled. */
    frame(frame) {
      if (frame.type === "shelf.stock") {
        const data = frame.data || {};
        setStock(data.sku_id, frame.room, data.sold_out ? 0 : data.available);
        return true;
      }
      if (frame.type === "room.purchase") {
        purchased(frame);
        return true;
      }
      if (frame.type === "coupon.left") {
        // coupons.js keeps the coupon cards: "N left", greyed at 0.
        const data = frame.data || {};
        document.dispatchEvent(new CustomEvent("coupon:left", { detail: { batchId: data.batch_id, left: data.left } }));
        return true;
      }
      return false;
    },
    /** A session detail (the socket's snapshot, or a poll): the shelf's stock and flash times. */
    shelf(detail) {
      applyShelf([...(detail.shelf || []), ...(detail.partner_shelf || [])]);
    },
  };
}
