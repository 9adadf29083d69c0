// The room's real-time panel: chat (live lines, posting, moderation), likes and flowers, the
// honest counters bar, and lucky draws. player.js owns the room socket and hands every frame it
// does not handle itself to `frame()`; reactions go back through its `send`. Strings come from
// data-t-* attributes; user text is only ever set with textContent.
import { applyChatFrame, atBottom, bindChatForm, postJson, scrollToBottom } from "./chat.js";

const REACT_EVERY_MS = 250;
const REACT_PER_MESSAGE = 20; // the server grants at most 20 a second per socket
const REACT_PENDING_MAX = 200;
const REACT_RETRY_MS = 1000;

// -- counters and reactions ----------------------------------------------------------------------

function watchTime(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function showCounters(data) {
  for (const slot of document.querySelectorAll("[data-counter]")) {
    const value = data[slot.dataset.counter];
    if (value === undefined || value === null) continue;
    slot.textContent = slot.dataset.counter === "avg_watch_s" ? watchTime(value) : Number(value).toLocaleString();
  }
}

/** Taps are added up and sent as one message every 250 ms; nothing is counted on the page
 * until the server's counters say so (no fake numbers). */
function bindReactions(send) {
  const pending = { like: 0, flower: 0 };
  let timer = null;

  function flush() {
    timer = null;
    let down = false;
    for (const type of Object.keys(pending)) {
      const count = Math.min(pending[type], REACT_PER_MESSAGE);
      if (!count) continue;
      if (!send({ type, count })) {
        down = true; // socket down: keep them for when it is back
        break;
      }
      pending[type] -= count;
    }
    if (pending.like || pending.flower) timer = setTimeout(flush, down ? REACT_RETRY_MS : REACT_EVERY_MS);
  }

  for (const button of document.querySelectorAll("[data-react]")) {
    button.addEventListener("click", () => {
      const type = button.dataset.react;
      pending[type] = Math.min(pending[type] + 1, REACT_PENDING_MAX);
      button.classList.remove("pop");
      void button.offsetWidth; // restart the little animation
      button.classList.add("pop");
      if (!timer) timer = setTimeout(flush, REACT_EVERY_MS);
    });
  }
}

// -- chat ----------------------------------------------------------------------------------------

function bindChat(section) {
  const list = document.getElementById("chat-list");
  if (!section || !list) return () => false;
  const t = section.dataset;
  // Claim-checker rule codes (absolute_term, ...) shown by their translated names, never raw.
  const ruleNames = JSON.parse(t.tRules || "{}");
  const jump = section.querySelector("[data-chat-jump]");
  const form = section.querySelector(".chat-form");
  const mod = document.getElementById("chat-mod");
  scrollToBottom(list);

  jump?.addEventListener("click", () => {
    scrollToBottom(list);
    jump.hidden = true;
  });
  list.addEventListener("scroll", () => {
    if (jump && atBottom(list)) jump.hidden = true;
  });
  list.addEventListener("chat:unseen", () => {
    if (jump) jump.hidden = false;
  });

  // Moderators: a remove and a mute button on each line, and one small inline form for the reason.
  function decorate(item) {
    if (!t.moderator || item.querySelector(".chat-tools")) return;
    const tools = document.createElement("span");
    tools.className = "chat-tools";
    if (!item.classList.contains("is-removed")) tools.append(tool("remove", t.tRemove));
    if (item.dataset.userId && item.dataset.userId !== t.userId) tools.append(tool("mute", t.tMute));
    if (tools.childElementCount) item.append(" ", tools);
  }
  function tool(kind, label) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link small";
    button.dataset.mod = kind;
    button.dataset.testid = `chat-${kind}`;
    button.textContent = label;
    return button;
  }
  // Who moderates is the viewer's own (the page is everyone's): me.js says so with "room:me".
  const decorateAll = () => {
    for (const item of list.querySelectorAll(".chat-msg")) decorate(item);
  };
  list.addEventListener("chat:added", (event) => decorate(event.detail.item));
  document.addEventListener("room:me", decorateAll);
  decorateAll();

  if (mod) {
    const reason = mod.elements.namedItem("reason");
    const minutes = mod.elements.namedItem("minutes");
    const title = mod.querySelector("[data-mod-title]");
    const muteOnly = mod.querySelector("[data-mod-mute-only]");
    const status = mod.querySelector("[data-mod-status]");
    let target = null;
    let kind = "";

    const close = () => {
      mod.hidden = true;
      target = null;
      section.append(mod);
    };
    list.addEventListener("click", (event) => {
      const button = event.target instanceof Element ? event.target.closest("[data-mod]") : null;
      if (!button) return;
      target = button.closest(".chat-msg");
      kind = button.dataset.mod;
      const name = target.querySelector(".chat-name")?.textContent || "";
      title.textContent = kind === "remove" ? t.tRemoveTitle : t.tMuteTitle.replace("%s", name);
      muteOnly.hidden = kind !== "mute";
      status.textContent = "";
      reason.value = "";
      target.after(mod);
      mod.hidden = false;
      reason.focus();
    });
    mod.querySelector("[data-mod-cancel]").addEventListener("click", close);
    mod.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!target) return;
      const url =
        kind === "remove"
          ? `/api/v1/chat/${target.dataset.id}/remove`
          : `/api/v1/sessions/${document.getElementById("room").dataset.sessionId}/mutes`;
      const payload =
        kind === "remove"
          ? { reason: reason.value }
          : { user_id: Number(target.dataset.userId), reason: reason.value, minutes: minutes.value ? Number(minutes.value) : null };
      try {
        const { ok, body } = await postJson(url, payload);
        if (!ok) {
          status.textContent = body.detail || t.tFailed;
          return;
        }
      } catch {
        status.textContent = t.tFailed;
        return;
      }
      if (kind === "remove") applyChatFrame(list, { type: "chat.removed", data: { id: Number(target.dataset.id), reason: reason.value } }, t);
      close();
    });
  }

  if (form) {
    const status = form.querySelector("[data-chat-status]");
    const warnings = form.querySelector("[data-chat-warnings]");
    const input = form.elements.namedItem("body");
    bindChatForm(
      form,
      (message) => {
        // Our own line shows at once; the chat.posted frame for it is then skipped by its id.
        applyChatFrame(list, { type: "chat.posted", data: message }, t);
        scrollToBottom(list);
        warnings.replaceChildren();
        warnings.hidden = !(message.warnings && message.warnings.length);
        if (warnings.hidden) return;
        const intro = document.createElement("p");
        intro.textContent = t.tWarnings;
        const ul = document.createElement("ul");
        for (const w of message.warnings) {
          const li = document.createElement("li");
          li.textContent = t.tWarning
            .replace("{term}", w.term)
            .replace("{rule}", ruleNames[w.rule] ?? t.tRuleOther)
            .replace("{article}", w.article)
            .replace("{suggestion}", w.suggestion);
          ul.append(li);
        }
        warnings.append(intro, ul);
      },
      t,
    );
    list.addEventListener("chat.muted", (event) => {
      if (String(event.detail.user_id) !== t.userId) return;
      input.disabled = true;
      status.textContent = t.tMuted;
    });
    list.addEventListener("chat.unmuted", (event) => {
      if (String(event.detail.user_id) !== t.userId) return;
      input.disabled = false;
      status.textContent = t.tUnmuted;
    });
  }

  /** Lines posted between rendering this page (or losing the socket) and the snapshot. */
  async function catchUp(sessionId) {
    const ids = [...list.querySelectorAll(".chat-msg")].map((li) => Number(li.dataset.id) || 0);
    const after = ids.length ? Math.max(...ids) : 0;
    try {
      const response = await fetch(`/api/v1/sessions/${sessionId}/chat?after_id=${after}&limit=200`, {
        headers: { accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) return;
      for (const m of (await response.json()).items) {
        if (!m.removed) applyChatFrame(list, { type: "chat.posted", data: m }, t);
      }
    } catch {
      // the next reconnect tries again
    }
  }

  return (frame) => {
    if (frame.type === "snapshot") {
      catchUp(frame.room);
      return false;
    }
    return applyChatFrame(list, frame, t);
  };
}

// -- lucky draws ---------------------------------------------------------------------------------

function yuan(fen) {
  const n = Math.abs(Number(fen) || 0);
  return `¥${Math.floor(n / 100).toLocaleString("en-US")}.${String(n % 100).padStart(2, "0")}`;
}

function fill(card, name, text) {
  for (const slot of card.querySelectorAll(`[data-f="${name}"]`)) slot.textContent = text ?? "";
}

function bindDraws(section) {
  const list = document.getElementById("draw-list");
  const template = document.getElementById("draw-template");
  if (!section || !list || !template) return () => false;
  const t = section.dataset;

  const cardOf = (id) => list.querySelector(`[data-draw-id="${Number(id)}"]`);

  function announce(data) {
    if (cardOf(data.draw_id)) return;
    const card = template.content.firstElementChild.cloneNode(true);
    card.dataset.drawId = String(data.draw_id);
    card.dataset.state = "announced";
    card.dataset.rule = data.entry_rule;
    fill(card, "prize_title", data.prize_title);
    fill(card, "value", yuan(data.prize_value_fen));
    fill(card, "winners_count", String(data.winners_count));
    fill(card, "keyword", data.keyword);
    fill(card, "terms", data.terms);
    card.querySelector('[data-f="verify_url"]')?.setAttribute("href", `/draws/${Number(data.draw_id)}/verify`);
    card.querySelector('[data-f="entrants_url"]')?.setAttribute("href", `/api/v1/draws/${Number(data.draw_id)}/entrants`);
    list.append(card);
    section.hidden = false;
  }

  function showSeed(card, seed) {
    if (!seed) return;
    fill(card, "seed", seed);
    card.dataset.seed = "y";
  }

  list.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-draw-enter]") : null;
    if (!button) return;
    const card = button.closest("[data-draw-id]");
    const status = card.querySelector("[data-draw-status]");
    button.disabled = true;
    try {
      const { ok, body } = await postJson(`/api/v1/draws/${card.dataset.drawId}/enter`, {});
      status.textContent = ok ? t.tEntered.replace("%s", body.label) : body.detail || t.tFailed;
      if (ok) card.dataset.entered = "y";
      else button.disabled = false;
    } catch {
      status.textContent = t.tFailed;
      button.disabled = false;
    }
  });

  /** Bring every card up to date from the draws API (after a snapshot: events may be missed). */
  async function catchUp(sessionId) {
    let draws;
    try {
      const response = await fetch(`/api/v1/sessions/${sessionId}/draws`, { headers: { accept: "application/json" } });
      if (!response.ok) return;
      draws = await response.json();
    } catch {
      return;
    }
    for (const d of draws) {
      announce({ ...d, draw_id: d.id });
      const card = cardOf(d.id);
      if (card.dataset.state === d.state) continue;
      if (d.state === "open") apply({ type: "draw.opened", data: { draw_id: d.id, seed_hash: d.seed_hash } });
      else if (d.state === "drawn") apply({ type: "draw.drawn", data: { ...d, draw_id: d.id } });
      else if (d.state === "cancelled") apply({ type: "draw.cancelled", data: { draw_id: d.id, reason: d.cancel_reason, seed: d.seed } });
    }
  }

  function apply(frame) {
    const data = frame.data || {};
    if (frame.type === "draw.announced") {
      announce(data);
      return true;
    }
    const card = cardOf(data.draw_id);
    if (!card) return true; // announced before this page's snapshot and not listed: cannot happen, but harmless
    if (frame.type === "draw.opened") {
      card.dataset.state = "open";
      fill(card, "seed_hash", data.seed_hash);
      card.dataset.hash = "y";
    } else if (frame.type === "draw.drawn") {
      card.dataset.state = "drawn";
      fill(card, "seed_hash", data.seed_hash);
      card.dataset.hash = "y";
      fill(card, "entrant_count", String(data.entrant_count));
      const winners = card.querySelector('[data-f="winners"]');
      winners.replaceChildren(
        ...(data.winners || []).map((w) => {
          const li = document.createElement("li");
          li.textContent = w.label;
          return li;
        }),
      );
      showSeed(card, data.seed);
    } else if (frame.type === "draw.cancelled") {
      card.dataset.state = "cancelled";
      fill(card, "cancel_reason", data.reason);
      showSeed(card, data.seed);
    }
    return true;
  }

  return (frame) => {
    if (frame.type === "snapshot") {
      catchUp(frame.room);
      return false;
    }
    if (!frame.type || !frame.type.startsWith("draw.")) return false;
    return apply(frame);
  };
}

/** Start the panel; returns the frame handler player.js calls for every frame it receives. */
export function startRoomLive(send) {
  bindReactions(send);
  const chat = bindChat(document.getElementById("chat"));
  const draws = bindDraws(document.getElementById("draws"));
  return (frame) => {
    if (frame.type === "room.counters") {
      showCounters(frame.data || {});
      return true;
    }
    if (frame.type === "snapshot") {
      chat(frame);
      draws(frame);
      return true;
    }
    return chat(frame) || draws(frame);
  };
}
