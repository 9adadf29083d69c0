// Coupons (购物福利) in a live room: Claim takes one (POST /api/v1/coupons/<id>/claim with an
// Idempotency-Key, reused when a retry follows no answer), and each card's "N left" follows the
// room's coupon.left frames (shelf.js hands them over as "coupon:left" events), greying the card
// when none are left. Anonymous viewers sign in in the buy sheet (buy.js) and stay in the room;
// where there is no sheet (the show is not live) they go to the sign-in page and come back.
// Strings come from the section's data-t-* attributes ({name} placeholders).
import { ensureSession } from "../session.js";
import { signInThen } from "./buy.js";
import { fill } from "./shelf.js";

const section = document.getElementById("coupons");
const t = section ? section.dataset : {};
const keys = new Map(); // batch id -> the Idempotency-Key of the claim in flight

function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const cardOf = (batchId) => section.querySelector(`[data-testid="coupon-card"][data-batch-id="${Number(batchId)}"]`);

function showLeft(card, left) {
  card.dataset.left = String(left);
  const gone = left <= 0;
  card.classList.toggle("is-gone", gone);
  card.querySelector("[data-coupon-left]").textContent = gone ? t.tGone : fill(t.tLeft, { n: left });
  const button = card.querySelector("[data-claim]");
  if (button) button.disabled = gone;
}

function status(card, text) {
  const box = card.querySelector("[data-coupon-status]");
  box.textContent = text;
  box.hidden = !text;
}

function claimed(card, body) {
  card.dataset.claimed = "y";
  card.querySelector("[data-claim]")?.remove();
  status(card, t.tClaimed);
  card.querySelector("[data-coupon-status]").dataset.testid = "coupon-claimed";
  if (body && body.batch) showLeft(card, body.batch.left);
  document.dispatchEvent(new CustomEvent("coupon:claimed", { detail: body || {} }));
}

async function claim(card, button) {
  const batchId = card.dataset.batchId;
  if (!keys.has(batchId)) keys.set(batchId, newKey());
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  status(card, "");
  let response;
  try {
    const token = await ensureSession();
    response = await fetch(`/api/v1/coupons/${batchId}/claim`, {
      method: "POST",
      credentials: "same-origin",
      headers: { accept: "application/json", "x-csrf-token": token, "idempotency-key": keys.get(batchId) },
    });
  } catch {
    status(card, t.tFailed); // no answer: Claim again sends the same key, so it never claims twice
    button.disabled = false;
    button.removeAttribute("aria-busy");
    return;
  }
  button.removeAttribute("aria-busy");
  const body = await response.json().catch(() => ({}));
  if (response.status >= 500 || response.status === 429) {
    status(card, body.detail || t.tFailed);
    button.disabled = false;
    return;
  }
  keys.delete(batchId);
  if (response.ok || body.code === "coupon_already_claimed") {
    claimed(card, response.ok ? body : null);
    return;
  }
  if (response.status === 401) {
    section.dataset.signedIn = "";
    button.disabled = false;
    ask(card, button);
    return;
  }
  if (body.code === "coupons_all_claimed") showLeft(card, 0);
  else button.disabled = false;
  status(card, body.detail || t.tFailed);
}

/** Sign in first: in the buy sheet when the room has one (then claim), else on the sign-in page. */
function ask(card, button) {
  if (!signInThen(() => {
    section.dataset.signedIn = "y";
    claim(card, button);
  })) {
    location.href = t.signinUrl;
  }
}

if (section) {
  section.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-claim]") : null;
    if (!button || button.disabled) return;
    const card = button.closest('[data-testid="coupon-card"]');
    if (!card) return;
    if (section.dataset.signedIn) claim(card, button);
    else ask(card, button);
  });
  document.addEventListener("coupon:left", (event) => {
    const card = cardOf(event.detail.batchId);
    if (card) showLeft(card, Number(event.detail.left) || 0);
  });
}
