// What of a room is this viewer's own. The room page is one page for every viewer (the page
// cache serves the same bytes to everyone signed in), so it holds nothing personal; this fetches
// GET /api/v1/sessions/<id>/me once and applies it: the console link and the chat before the show
// for the show's operators (data-me-show / data-me-hide name a field of the answer), the chat's
// moderator tools and a mute, the host and organisation this viewer follows, the draws entered
// (operators may not enter), the coupons claimed, and the header's unread count and review link.
// Strings come from data-t-* attributes of the page.

const room = document.getElementById("room");
const RELOADED = "fc-room-me-reloaded";

function applyFollows(me) {
  for (const form of document.querySelectorAll("form[data-follow]")) {
    const id = Number(form.dataset.followId);
    if (form.dataset.follow === "host" && id === me.user_id) {
      form.remove(); // no following oneself
      continue;
    }
    const following = form.dataset.follow === "host" ? me.followed_host_ids.includes(id) : me.follows_organisation;
    if (!following) continue;
    const button = form.querySelector("button");
    form.action = "/unfollow";
    button.textContent = button.dataset.tOn;
    button.setAttribute("aria-label", button.dataset.tLabelOn);
    button.classList.replace("outline", "secondary");
  }
}

function applyChat(me) {
  const section = document.getElementById("chat");
  if (!section) return;
  section.dataset.userId = String(me.user_id);
  section.dataset.moderator = me.moderator ? "y" : "";
  const input = section.querySelector('.chat-form [name="body"]');
  const status = section.querySelector(".chat-form [data-chat-status]");
  if (me.muted && input) {
    input.disabled = true;
    if (status) status.textContent = section.dataset.tMuted;
  }
}

function applyDraws(me) {
  const section = document.getElementById("draws");
  if (!section) return;
  section.classList.toggle("me-operator", me.operator);
  for (const id of me.entered_draw_ids) {
    const card = section.querySelector(`[data-draw-id="${Number(id)}"]`);
    if (card) card.dataset.entered = "y";
  }
}

function applyCoupons(me) {
  const section = document.getElementById("coupons");
  if (!section) return;
  for (const id of me.claimed_coupon_batch_ids) {
    const card = section.querySelector(`[data-testid="coupon-card"][data-batch-id="${Number(id)}"]`);
    if (!card) continue;
    card.dataset.claimed = "y";
    card.querySelector("[data-claim]")?.remove();
    const box = card.querySelector("[data-coupon-status]");
    box.textContent = section.dataset.tClaimed;
    box.hidden = false;
    box.dataset.testid = "coupon-claimed";
  }
}

function applyHeader(me) {
  if (me.is_platform_admin) for (const item of document.querySelectorAll("[data-me-admin]")) item.hidden = false;
  const n = me.unread_notifications;
  if (!n) return;
  for (const dot of document.querySelectorAll("[data-me-unread-dot]")) dot.hidden = false;
  for (const count of document.querySelectorAll("[data-me-unread]")) {
    count.textContent = n < 100 ? String(n) : "99+";
    count.hidden = false;
  }
  for (const text of document.querySelectorAll("[data-me-unread-text]")) text.textContent = ` (${text.dataset.t.replace("{n}", String(n))})`;
}

export function applyMe(me) {
  for (const el of document.querySelectorAll("[data-me-show]")) if (me[el.dataset.meShow]) el.hidden = false;
  for (const el of document.querySelectorAll("[data-me-hide]")) if (me[el.dataset.meHide]) el.hidden = true;
  applyFollows(me);
  applyChat(me);
  applyDraws(me);
  applyCoupons(me);
  applyHeader(me);
  document.dispatchEvent(new CustomEvent("room:me", { detail: me }));
}

async function load() {
  if (!room || !room.dataset.signedIn) return null;
  let response;
  try {
    response = await fetch(`/api/v1/sessions/${Number(room.dataset.sessionId)}/me`, {
      headers: { accept: "application/json" },
      credentials: "same-origin",
    });
  } catch {
    return null;
  }
  if (response.status === 401) {
    // Signed out meanwhile (another tab, a password change): the page was the signed-in one.
    // The answer dropped the sign-in from the session cookie; load the page once more.
    if (!sessionStorage.getItem(RELOADED)) {
      sessionStorage.setItem(RELOADED, "y");
      location.reload();
    }
    return null;
  }
  sessionStorage.removeItem(RELOADED);
  if (!response.ok) return null;
  const me = await response.json();
  applyMe(me);
  return me;
}

/** Resolves to the viewer's own state once applied (null: not signed in, or not known). The room
 * does not wait for it: forms work at once, and "room:me" (on document) tells who moderates. */
export const roomMe = load();
