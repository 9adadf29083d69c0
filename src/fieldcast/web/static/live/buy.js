// Buying in a live room, without leaving it. Buy on the pinned card or any shelf item opens a
// sheet (a modal <dialog>, a bottom sheet on phones) over the room: sign in or sign up first if
// need be, add an address if there is none, then quantity, address and total; Confirm orders
// (POST /api/v1/checkout, with an Idempotency-Key per attempt, reused on a retry) and opens the
// payment, whose page (the provider's) shows in a frame in the sheet while the video and chat go
// on underneath. The payment is polled every 2 s (and checked at once when a payment page says it
// changed); once paid the sheet says so and links to the order. Closed with a payment still to
// make, the room keeps a bar to come back to it.
//
// The buyer's coupons that apply (POST /api/v1/me/coupons/quote, again when the quantity changes)
// are offered in a list with the best one chosen; the total is after it, and Confirm sends it.
// Coupons in the room (coupons.js) ask anonymous viewers to sign in here too (signInThen).
//
// Strings come from the sheet's data-t-* attributes ({name} placeholders); anything from a user
// or the server is set with textContent.
import { ensureSession, refreshSession } from "../session.js";
import { cardsOf, fill, serverNow, setStock, yuan } from "./shelf.js";

const POLL_MS = 2000;
const POLL_CLOSED_MS = 5000; // the sheet closed with a payment pending: look less often
const QUANTITY_MAX = 99;

const sheet = document.getElementById("buy-sheet"); // only while the show is live
const t = sheet ? sheet.dataset : {};

// -- talking to the API --------------------------------------------------------------------------

function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** fetch JSON; resolves to {ok, status, body} (body {} when there is none); throws when offline. */
async function call(method, url, payload, key) {
  const headers = { accept: "application/json" };
  if (payload !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") headers["x-csrf-token"] = await ensureSession();
  if (key) headers["idempotency-key"] = key;
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  const body = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, body };
}

async function refreshCsrf() {
  await refreshSession();
}

// -- the sheet -----------------------------------------------------------------------------------

let current = null; // the item being bought: {skuId, sessionId, title, spec, priceFen, available, limit, image}
let addresses = [];
let chosen = null; // address id
let attempt = null; // {key, body}: a retry of the very same order after no answer reuses the key
let payment = null; // PaymentOut of the checkout being paid
let pollTimer = null;
let opener = null;
let signedIn = Boolean(t.signedIn);
let afterClose = null; // what waits for the sheet to close (the room's page being rebuilt)
let afterSignIn = null; // what waits for a sign-in asked for by something else (claiming a coupon)
let coupons = []; // the quote's options that apply: {claim_id, batch, discount_fen}
let couponChoice = null; // the claim id chosen by the buyer ("" = none), null = take the best
let quoteTimer = null;
let quoteSeq = 0;

/** Run `callback` now, or once the sheet closes if it is open: a show ending or its shelf changing
 * rebuilds the room's page, which must not happen under a buyer who is paying. */
export function afterTheSheet(callback) {
  if (sheet && sheet.open) afterClose = callback;
  else callback();
}

/** Ask an anonymous viewer to sign in in the sheet, then run `callback` (the sheet closes);
 * false when the room has no sheet (the show is not live). */
export function signInThen(callback) {
  if (!sheet) return false;
  if (payment && payment.state === "pending") {
    reopenPayment();
    return true;
  }
  afterSignIn = callback;
  current = null;
  say("");
  if (!sheet.open) sheet.showModal();
  authMode("signin");
  return true;
}

const $ = (selector) => sheet.querySelector(selector);
const errorBox = sheet ? $("[data-sheet-error]") : null;
const quantity = sheet ? $("[data-quantity]") : null;
const frame = sheet ? $("[data-pay-frame]") : null;
const resume = document.querySelector("[data-buy-resume]");

function say(text) {
  errorBox.textContent = text || "";
  errorBox.hidden = !text;
}

function show(step, titleText) {
  for (const section of sheet.querySelectorAll("[data-step]")) section.hidden = section.dataset.step !== step;
  sheet.dataset.step = step;
  $("[data-sheet-title]").textContent = titleText || t[`tTitle${step[0].toUpperCase()}${step.slice(1)}`] || "";
  $("[data-sheet-item]").hidden = step === "paid" || !current;
}

function focusFirst(step) {
  const section = $(`[data-step="${step}"]`);
  const target = section.querySelector("input:not([type=hidden]):not([disabled]), select:not([disabled]), button:not([disabled]):not([hidden])");
  (target || section).focus?.();
}

function busy(button, on, text) {
  if (!button) return;
  if (on) {
    button.dataset.label = button.dataset.label || button.textContent;
    button.setAttribute("aria-busy", "true");
    if (text) button.textContent = text;
  } else {
    button.removeAttribute("aria-busy");
    if (button.dataset.label) button.textContent = button.dataset.label;
  }
  button.disabled = on;
}

function itemOf(card) {
  return {
    skuId: card.dataset.skuId,
    sessionId: Number(card.dataset.itemSession),
    title: card.dataset.title,
    spec: card.dataset.spec,
    priceFen: Number(card.dataset.priceFen) || 0,
    available: Number(card.dataset.available) || 0,
    limit: Number(card.dataset.limit) || 0,
    image: card.dataset.image,
  };
}

function showItem() {
  const box = $("[data-sheet-item]");
  box.querySelector('[data-f="title"]').textContent = current.title;
  box.querySelector('[data-f="spec"]').textContent = current.spec;
  box.querySelector('[data-f="price"]').textContent = yuan(current.priceFen);
  const image = box.querySelector('[data-f="image"]');
  if (current.image) image.src = current.image;
  image.hidden = !current.image;
  box.querySelector('[data-f="no-image"]').hidden = Boolean(current.image);
}

function ceiling() {
  const cap = Math.min(Number(t.quantityMax) || QUANTITY_MAX, current.limit || QUANTITY_MAX);
  return Math.max(1, Math.min(cap, current.available || 1));
}

function count() {
  const n = Math.trunc(Number(quantity.value));
  return Number.isFinite(n) ? Math.min(Math.max(n, 1), ceiling()) : 1;
}

function updateQuantity() {
  if (!current) return;
  const max = ceiling();
  quantity.max = String(max);
  const n = count();
  if (String(n) !== quantity.value && document.activeElement !== quantity) quantity.value = String(n);
  $('[data-step-by="-1"]').disabled = n <= 1;
  $('[data-step-by="1"]').disabled = n >= max;
  $("[data-limit-note]").textContent = current.limit ? fill(t.tLimit, { n: current.limit }) : "";
  const off = chosenCoupon()?.discount_fen || 0;
  $("[data-total]").textContent = yuan(current.priceFen * n - off);
  const note = $("[data-discount-note]");
  note.textContent = off ? fill(t.tSaving, { amount: yuan(off) }) : "";
  note.hidden = !off;
  $("[data-confirm]").disabled = current.available <= 0;
}

// -- coupons -------------------------------------------------------------------------------------

function chosenCoupon() {
  const id = $("[data-coupon]").value;
  return id ? coupons.find((c) => String(c.claim_id) === id) || null : null;
}

function showCoupons(best) {
  const select = $("[data-coupon]");
  const none = document.createElement("option");
  none.value = "";
  none.textContent = t.tNoCoupon;
  select.replaceChildren(
    none,
    ...coupons.map((c) => {
      const option = document.createElement("option");
      option.value = String(c.claim_id);
      option.textContent = fill(t.tCouponOption, { title: c.batch.title, amount: yuan(c.discount_fen) });
      return option;
    }),
  );
  const keep = couponChoice !== null && (couponChoice === "" || coupons.some((c) => String(c.claim_id) === couponChoice));
  select.value = keep ? couponChoice : best ? String(best) : "";
  $("[data-coupon-row]").hidden = !coupons.length;
  updateQuantity();
}

/** The buyer's coupons for this line at this quantity (a little after the last change). */
function quote(now = false) {
  clearTimeout(quoteTimer);
  quoteTimer = setTimeout(async () => {
    if (!current || !signedIn) return;
    const seq = ++quoteSeq;
    try {
      const answer = await call("POST", "/api/v1/me/coupons/quote", { items: [line()] });
      if (seq !== quoteSeq || !current) return;
      const body = answer.ok ? answer.body : { options: [], best_claim_id: null };
      coupons = body.options.filter((o) => o.applies);
      showCoupons(body.best_claim_id);
    } catch {
      // offline for a moment: the order goes without a coupon unless the next quote arrives
    }
  }, now ? 0 : 250);
}

function addressText(a) {
  return [`${a.recipient} ${a.phone}`, `${a.region_name} ${a.street}`];
}

function showAddresses() {
  const summary = $("[data-address-summary]");
  const a = addresses.find((x) => x.id === chosen);
  summary.replaceChildren();
  if (a) {
    const [who, where] = addressText(a);
    const strong = document.createElement("strong");
    strong.textContent = who;
    summary.append(strong, document.createElement("br"), where);
  }
  const choices = $("[data-address-choices]");
  choices.replaceChildren(
    ...addresses.map((x) => {
      const label = document.createElement("label");
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "buy-address";
      radio.value = String(x.id);
      radio.checked = x.id === chosen;
      const [who, where] = addressText(x);
      const text = document.createElement("span");
      text.textContent = `${who}${x.is_default ? ` (${t.tDefault})` : ""} · ${where}`;
      label.append(radio, " ", text);
      return label;
    }),
  );
}

function toggleChoices(open) {
  const button = $("[data-change-address]");
  $("#buy-address-list").hidden = !open;
  button.setAttribute("aria-expanded", open ? "true" : "false");
}

function clearProblem(form) {
  for (const old of form.querySelectorAll("[data-field-error]")) old.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
  say("");
}

/** Field errors of a problem next to their inputs; the detail at the top of the sheet. */
function showProblem(form, problem) {
  if (form) {
    clearProblem(form);
    for (const error of problem.errors || []) {
      const input = form.elements.namedItem(String(error.field).split(".").pop());
      if (!(input instanceof HTMLInputElement || input instanceof HTMLSelectElement) || input.type === "hidden") continue;
      const note = document.createElement("small");
      note.className = "field-error";
      note.dataset.fieldError = "";
      note.id = `${input.id}-problem`;
      note.textContent = error.message;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", note.id);
      input.after(note);
    }
  }
  say(problem.detail || t.tFailed);
}

async function open(card, button) {
  opener = button;
  if (payment && payment.state === "pending") {
    // One checkout at a time: finish (or cancel) the one waiting before starting another.
    reopenPayment();
    return;
  }
  current = itemOf(card);
  payment = null;
  attempt = null;
  afterSignIn = null;
  coupons = [];
  couponChoice = null;
  $("[data-coupon-row]").hidden = true;
  say("");
  showItem();
  quantity.value = "1";
  $("[data-cart-status]").hidden = true;
  if (!sheet.open) sheet.showModal();
  if (!signedIn) {
    authMode("signin");
    return;
  }
  await toBuy();
}

async function toBuy(preferred) {
  show("buy");
  $("[data-address-summary]").textContent = t.tLoading;
  toggleChoices(false);
  updateQuantity();
  let answer;
  try {
    answer = await call("GET", "/api/v1/me/addresses");
  } catch {
    say(t.tFailed);
    return;
  }
  if (answer.status === 401) {
    signedIn = false;
    authMode("signin");
    return;
  }
  if (!answer.ok) {
    say(answer.body.detail || t.tFailed);
    return;
  }
  addresses = answer.body;
  if (!addresses.length) {
    toAddress(false);
    return;
  }
  const keep = preferred ?? chosen;
  chosen = addresses.some((a) => a.id === keep) ? keep : (addresses.find((a) => a.is_default) || addresses[0]).id;
  showAddresses();
  updateQuantity();
  quote(true);
  $("[data-confirm]").focus();
}

function toAddress(withBack) {
  const form = $("[data-address-form]");
  show("address");
  $("[data-address-back]").hidden = !withBack;
  $("[data-default-choice]").hidden = !addresses.length; // the first address is the default anyway
  focusFirst("address");
  return form;
}

function authMode(mode) {
  const form = $("[data-auth-form]");
  form.dataset.mode = mode;
  for (const el of $('[data-step="signin"]').querySelectorAll("[data-signup-only]")) el.hidden = mode !== "signup";
  for (const el of $('[data-step="signin"]').querySelectorAll("[data-signin-only]")) el.hidden = mode !== "signin";
  form.elements.namedItem("display_name").required = mode === "signup";
  form.elements.namedItem("password").autocomplete = mode === "signup" ? "new-password" : "current-password";
  show("signin", mode === "signup" ? t.tTitleSignup : t.tTitleSignin);
  focusFirst("signin");
}

async function signIn(form) {
  const mode = form.dataset.mode;
  const values = {
    email: form.elements.namedItem("email").value.trim(),
    password: form.elements.namedItem("password").value,
  };
  if (mode === "signup") values.display_name = form.elements.namedItem("display_name").value.trim();
  const button = form.querySelector(`[data-testid="sheet-${mode}"]`);
  busy(button, true);
  say("");
  try {
    const answer = await call("POST", `/api/v1/auth/${mode}`, values);
    if (!answer.ok) {
      showProblem(form, answer.body);
      return;
    }
    await refreshCsrf(); // a new session has a new token: every later write sends it
    signedIn = true;
    sheet.dataset.signedIn = "y";
    form.reset();
    clearProblem(form);
    if (afterSignIn) {
      const run = afterSignIn;
      afterSignIn = null;
      sheet.close();
      run();
      return;
    }
    await toBuy();
  } catch {
    say(t.tFailed);
  } finally {
    busy(button, false);
  }
}

async function saveAddress(form) {
  const value = (name) => form.elements.namedItem(name)?.value?.trim() || "";
  const body = {
    recipient: value("recipient"),
    phone: value("phone"),
    region_code: value("region_code"),
    street: value("street"),
    is_default: Boolean(form.elements.namedItem("is_default")?.checked),
  };
  const button = form.querySelector("[type=submit]");
  busy(button, true);
  say("");
  try {
    const answer = await call("POST", "/api/v1/me/addresses", body, newKey());
    if (!answer.ok) {
      showProblem(form, answer.body);
      return;
    }
    clearProblem(form);
    form.reset();
    await toBuy(answer.body.id);
  } catch {
    say(t.tFailed);
  } finally {
    busy(button, false);
  }
}

function line() {
  // No room (a clip page): the storefront line, with no session.
  return { sku_id: Number(current.skuId), quantity: count(), session_id: current.sessionId || null };
}

async function confirm() {
  const button = $("[data-confirm]");
  const body = { items: [line()], address_id: chosen };
  const coupon = chosenCoupon();
  if (coupon) body.coupon_claim_id = coupon.claim_id;
  const text = JSON.stringify(body);
  if (!attempt || attempt.body !== text) attempt = { key: newKey(), body: text };
  busy(button, true, t.tOrdering);
  say("");
  let answer;
  try {
    // A clip page orders through its own checkout (the order is attributed to the clip).
    answer = await call("POST", t.checkoutUrl || "/api/v1/checkout", body, attempt.key);
  } catch {
    say(t.tFailed); // no answer: Confirm again sends the same key, so it never orders twice
    busy(button, false);
    return;
  }
  busy(button, false);
  if (answer.status >= 500 || answer.status === 429) {
    say(answer.body.detail || t.tFailed); // not recorded against the key: the same key may retry
    return;
  }
  attempt = null;
  if (!answer.ok) {
    await refused(answer);
    return;
  }
  await openPayment(answer.body);
}

async function refused(answer) {
  const code = answer.body.code;
  if (answer.status === 401) {
    signedIn = false;
    authMode("signin");
    return;
  }
  if (code === "csrf_failed") await refreshCsrf(); // signed in or out elsewhere: Confirm again works
  if (code === "sold_out") setStock(current.skuId, current.sessionId, 0);
  say(answer.body.detail || t.tFailed);
  if (code === "bad_address") await toBuy();
  if (code === "coupon_not_usable") quote(true);
}

async function openPayment(checkout) {
  payment = checkout;
  show("pay", fill(t.tTitlePay, { amount: yuan(checkout.amount_fen) }));
  const status = $("[data-pay-status]");
  status.textContent = t.tOpening;
  $("[data-pay-retry]").hidden = true;
  let answer;
  try {
    answer = await call("POST", `/api/v1/payments/${checkout.id}/open`, {});
  } catch {
    answer = null;
  }
  if (!answer || !answer.ok) {
    say((answer && answer.body.detail) || t.tFailed);
    status.textContent = "";
    $("[data-pay-retry]").hidden = false;
    poll();
    return;
  }
  payment = answer.body;
  say("");
  const url = framable(payment.pay_url);
  if (url) {
    frame.src = url;
    frame.hidden = false;
    $("[data-pay-elsewhere]").hidden = true;
    status.textContent = t.tWaiting;
  } else {
    frame.hidden = true;
    $("[data-pay-link]").href = payment.pay_url;
    $("[data-pay-elsewhere]").hidden = false;
    status.textContent = t.tElsewhere;
  }
  poll();
  (url ? status : $("[data-pay-link]")).focus();
}

/** The pay page in the frame when it is this site's (the sandbox provider's), with "Back" leading
 * to this room; another origin's page opens in a new tab instead (this site frames only itself). */
function framable(raw) {
  let url;
  try {
    url = new URL(raw, location.href);
  } catch {
    return null;
  }
  if (url.origin !== location.origin) return null;
  url.searchParams.set("return", t.roomPath || location.pathname);
  return url.href;
}

function reopenPayment() {
  if (!sheet.open) sheet.showModal();
  show("pay", fill(t.tTitlePay, { amount: yuan(payment.amount_fen) }));
  showResume(null);
  if (!payment.pay_url) openPayment(payment);
  else poll();
}

async function poll() {
  clearTimeout(pollTimer);
  pollTimer = null;
  if (!payment || payment.state !== "pending") return;
  try {
    const answer = await call("GET", `/api/v1/payments/${payment.id}`);
    if (answer.ok) {
      payment = { ...payment, ...answer.body };
      if (payment.state === "paid") return paid();
      if (payment.state !== "pending") return closed();
    }
  } catch {
    // offline for a moment: the next round tries again
  }
  if (Date.parse(payment.expires_at) < serverNow() - 60_000) return closed();
  pollTimer = setTimeout(poll, sheet.open ? POLL_MS : POLL_CLOSED_MS);
}

function orderPath() {
  const orders = payment.orders || [];
  return orders.length === 1 ? `/orders/${orders[0].id}` : "/orders";
}

/** The bar under the room while the sheet is closed: "waiting for payment · Pay now", or
 * "paid · View the order" when the payment arrived meanwhile; hidden for anything else. */
function showResume(state) {
  resume.hidden = !state;
  const isPaid = state === "paid";
  resume.querySelector("[data-resume-pending]").hidden = isPaid;
  resume.querySelector("[data-resume-open]").hidden = isPaid;
  resume.querySelector("[data-resume-paid]").hidden = !isPaid;
  resume.querySelector("[data-resume-dismiss]").hidden = !isPaid;
  const link = resume.querySelector("[data-resume-order]");
  link.hidden = !isPaid;
  if (isPaid) link.href = orderPath();
}

function paid() {
  frame.removeAttribute("src");
  frame.hidden = true;
  if (!sheet.open) {
    showResume("paid"); // paid while the sheet was closed (on the phone that scanned the QR code, say)
    return;
  }
  showResume(null);
  say("");
  show("paid");
  $("[data-order-link]").href = orderPath();
  $("[data-paid-message]").focus();
}

function closed() {
  frame.removeAttribute("src");
  frame.hidden = true;
  payment = null;
  showResume(null);
  if (!sheet.open) return;
  say(t.tClosed);
  toBuy();
}

async function cancelPayment() {
  const button = $("[data-pay-cancel]");
  busy(button, true);
  try {
    const answer = await call("POST", `/api/v1/payments/${payment.id}/cancel`, {});
    if (!answer.ok) {
      say(answer.body.detail || t.tFailed);
      return;
    }
    if (answer.body.state === "paid") {
      payment = { ...payment, ...answer.body }; // it was paid meanwhile: nothing to cancel
      paid();
      return;
    }
  } catch {
    say(t.tFailed);
    return;
  } finally {
    busy(button, false);
  }
  clearTimeout(pollTimer);
  frame.removeAttribute("src");
  frame.hidden = true;
  payment = null;
  await toBuy();
  say(t.tCancelled);
}

async function addToCart() {
  const button = $("[data-add-cart]");
  const status = $("[data-cart-status]");
  busy(button, true);
  say("");
  status.hidden = true;
  try {
    const answer = await call("POST", "/api/v1/me/cart", line(), newKey());
    if (!answer.ok) {
      await refused(answer);
      return;
    }
    status.querySelector("[data-cart-text]").textContent = t.tAdded;
    status.hidden = false;
  } catch {
    say(t.tFailed);
  } finally {
    busy(button, false);
  }
}

function bindSheet() {
  // The item being bought sold out (or got fewer) while the sheet is open.
  document.addEventListener("shelf:stock", (event) => {
    const { skuId, sessionId, available } = event.detail;
    if (!current || current.skuId !== skuId || (sessionId && current.sessionId !== Number(sessionId))) return;
    current.available = available;
    updateQuantity();
    if (available <= 0 && sheet.dataset.step === "buy") say(t.tSoldOut);
  });

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-buy]") : null;
    if (!button || button.disabled) return;
    const card = button.closest('[data-testid="shelf-item"]');
    if (card) open(card, button);
  });

  for (const close of sheet.querySelectorAll("[data-sheet-close]")) close.addEventListener("click", () => sheet.close());
  // A tap on the dimmed room around the sheet closes it too.
  sheet.addEventListener("click", (event) => {
    if (event.target === sheet) sheet.close();
  });
  sheet.addEventListener("close", () => {
    if (payment && payment.state === "pending") {
      showResume("pending");
      poll();
    } else if (sheet.dataset.step === "paid") {
      payment = null;
    }
    // Focus goes back to the Buy button it came from (or its twin, if the card was re-rendered).
    const back = opener && opener.isConnected ? opener : current ? cardsOf(current.skuId)[0]?.querySelector("[data-buy]") : null;
    back?.focus();
    if (afterClose) {
      const run = afterClose;
      afterClose = null;
      run();
    }
  });

  quantity.addEventListener("input", () => {
    updateQuantity();
    quote();
  });
  $("[data-coupon]").addEventListener("change", (event) => {
    couponChoice = event.target.value;
    updateQuantity();
  });
  // A coupon claimed in the room while buying: it may apply to this order.
  document.addEventListener("coupon:claimed", () => {
    if (sheet.open && sheet.dataset.step === "buy") quote(true);
  });
  quantity.addEventListener("change", () => {
    quantity.value = String(count());
    updateQuantity();
  });
  for (const step of sheet.querySelectorAll("[data-step-by]")) {
    step.addEventListener("click", () => {
      quantity.value = String(Math.min(Math.max(count() + Number(step.dataset.stepBy), 1), ceiling()));
      updateQuantity();
      quote();
    });
  }

  $("[data-change-address]").addEventListener("click", () => toggleChoices($("#buy-address-list").hidden));
  $("[data-address-choices]").addEventListener("change", (event) => {
    if (!(event.target instanceof HTMLInputElement)) return;
    chosen = Number(event.target.value);
    showAddresses();
  });
  $("[data-new-address]").addEventListener("click", () => toAddress(true));
  $("[data-address-back]").addEventListener("click", () => toBuy());
  $("[data-address-form]").addEventListener("submit", (event) => {
    event.preventDefault();
    saveAddress(event.currentTarget);
  });

  for (const button of sheet.querySelectorAll("[data-auth-mode]")) {
    button.addEventListener("click", () => authMode(button.dataset.authMode));
  }
  $("[data-auth-form]").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(event.currentTarget);
  });

  $("[data-confirm]").addEventListener("click", confirm);
  $("[data-add-cart]").addEventListener("click", addToCart);
  $("[data-pay-cancel]").addEventListener("click", cancelPayment);
  $("[data-pay-retry]").addEventListener("click", () => openPayment(payment));
  // Escape pressed inside the payment page (this site's own, in the frame) closes the sheet too.
  frame.addEventListener("load", () => {
    try {
      frame.contentWindow.addEventListener("keydown", (event) => {
        if (event.key === "Escape") sheet.close();
      });
    } catch {
      // another origin's page: its keys are its own
    }
  });

  resume.querySelector("[data-resume-open]").addEventListener("click", () => {
    if (payment && payment.state === "pending") reopenPayment();
  });
  resume.querySelector("[data-resume-dismiss]").addEventListener("click", () => {
    showResume(null);
    payment = null;
  });

  // The pay page (/pay/<id>) tells its parent when the state changed: look at once.
  window.addEventListener("message", (event) => {
    if (event.origin !== location.origin) return;
    const data = event.data;
    if (data && data.type === "fieldcast.payment" && payment && Number(data.id) === payment.id) poll();
  });
}

if (sheet) bindSheet();
