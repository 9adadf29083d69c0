// Room chat in the browser: renders chat frames from the room's event stream and posts the
// chat form in the background. Message text is user input: it is only ever set with
// textContent, never innerHTML, so `<img src=x onerror=...>` shows as those characters.
//
// Use: `import { applyChatFrame, bindChatForm } from "/static/live/chat.js";` then call
// applyChatFrame(list, frame, labels) for every frame whose type starts with "chat.". Labels are
// the translated strings of the page (data-t-* attributes: tHost, tRemoved with a "%s").
import { csrfToken, ensureSession } from "../session.js";

const MAX_SHOWN = 300; // older messages scroll off the page (the replay transcript keeps them)
const BOTTOM_SLACK_PX = 24;

/** Whether the viewer is reading the newest line (then new lines keep it in view). */
export function atBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight <= BOTTOM_SLACK_PX;
}

export function scrollToBottom(list) {
  list.scrollTop = list.scrollHeight;
}

function messageItem(data, labels) {
  const li = document.createElement("li");
  li.className = "chat-msg" + (data.is_host ? " is-host" : "");
  li.dataset.id = String(data.id);
  li.dataset.userId = data.user_id === null || data.user_id === undefined ? "" : String(data.user_id);
  li.dataset.testid = "chat-message";
  const name = document.createElement("span");
  name.className = "chat-name";
  name.textContent = data.display_name;
  li.append(name);
  if (data.is_host) {
    const badge = document.createElement("mark");
    badge.className = "chat-host";
    badge.textContent = labels.tHost || "Host";
    li.append(" ", badge);
  }
  const body = document.createElement("span");
  body.className = "chat-body";
  body.textContent = data.body;
  li.append(" ", body);
  return li;
}

function markRemoved(item, reason, labels) {
  if (item.classList.contains("is-removed")) return;
  item.classList.add("is-removed");
  const note = document.createElement("em");
  note.className = "chat-removed";
  note.textContent = (labels.tRemoved || "Removed by a moderator: %s").replace("%s", reason);
  const body = item.querySelector(".chat-body");
  if (body) body.replaceWith(note);
  else item.append(" ", note);
  for (const tool of item.querySelectorAll("[data-mod=remove]")) tool.remove();
}

/** Apply one room frame ({id, type, data}) to the chat list. Returns true if it was a chat frame.
 * New lines stay in view only if the reader was at the bottom; otherwise the list fires
 * "chat:unseen" (the page shows a "new messages" button) and the reader's place is kept. */
export function applyChatFrame(list, frame, labels = list.dataset) {
  const data = frame.data || {};
  switch (frame.type) {
    case "chat.posted": {
      if (list.querySelector(`[data-id="${Number(data.id)}"]`)) return true; // resent after a reconnect
      const follow = atBottom(list);
      const item = messageItem(data, labels);
      list.append(item);
      while (list.children.length > MAX_SHOWN) list.firstElementChild.remove();
      list.dispatchEvent(new CustomEvent("chat:added", { detail: { item, data } }));
      if (follow) scrollToBottom(list);
      else list.dispatchEvent(new CustomEvent("chat:unseen"));
      return true;
    }
    case "chat.removed": {
      const item = list.querySelector(`[data-id="${Number(data.id)}"]`);
      if (item) markRemoved(item, data.reason || "", labels);
      return true;
    }
    case "chat.muted":
    case "chat.unmuted":
      list.dispatchEvent(new CustomEvent(frame.type, { detail: data }));
      return true;
    default:
      return false;
  }
}

export { csrfToken };

/** POST JSON with the session's CSRF token; resolves to {ok, status, body} (body {} if none). */
export async function postJson(url, payload) {
  const token = await ensureSession();
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", "x-csrf-token": token },
    credentials: "same-origin",
    body: JSON.stringify(payload || {}),
  });
  const body = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, body };
}

/** Post the chat form with fetch; show the problem's detail (too fast, banned word, muted) as
 * text. `onPosted(message)` gets the posted message (with `warnings` for hosts). When given,
 * `beforeSend(text)` runs first and the line is sent only if it resolves true (a host's claim
 * check). */
export function bindChatForm(form, onPosted, labels = {}, beforeSend = null) {
  const status = form.querySelector("[data-chat-status]");
  const say = (text) => {
    if (status) status.textContent = text;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = form.elements.namedItem("body");
    const button = form.querySelector("[type=submit]");
    if (!input.value.trim()) return;
    if (button) button.disabled = true;
    try {
      if (beforeSend && !(await beforeSend(input.value))) return;
      const { ok, status: code, body } = await postJson(form.action, { body: input.value });
      if (!ok) {
        say(body.detail || labels.tFailed || String(code));
        return;
      }
      input.value = "";
      say("");
      if (onPosted) onPosted(body);
    } catch {
      say(labels.tFailed || "");
    } finally {
      if (button) button.disabled = false;
      input.focus();
    }
  });
}
