// A clip's page: the view is counted once the page is open (POST .../views; the server counts a
// viewer once per window, so a reload adds nothing), and "Copy the link" copies the share link.
// Buying is static/live/buy.js's, over the product card.
import { ensureSession } from "../session.js";

const page = document.getElementById("clip");

async function countView() {
  if (!page || !page.dataset.viewsUrl) return;
  try {
    const headers = { accept: "application/json", "x-csrf-token": await ensureSession() };
    await fetch(page.dataset.viewsUrl, { method: "POST", headers, credentials: "same-origin" });
  } catch {
    // offline: this view goes uncounted, which is the honest side to err on
  }
}

function bindCopy() {
  const button = document.querySelector("[data-copy]");
  const source = document.querySelector("[data-copy-source]");
  if (!button || !source) return;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.value);
      button.textContent = button.dataset.tCopied;
    } catch {
      source.select(); // no clipboard access: the link is selected for a long-press copy
    }
  });
}

countView();
bindCopy();
