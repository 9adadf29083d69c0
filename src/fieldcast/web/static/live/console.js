// The host console without page loads: its forms (pin, shelf, co-stream, start and end) post
// in the background and swap in the parts of the console the server sends back, so a browser
// go-live stream on this page keeps running. Without JavaScript the forms post normally.
const root = document.getElementById("console");

function swapParts(html) {
  const fresh = new DOMParser().parseFromString(html, "text/html");
  for (const part of document.querySelectorAll("[data-console-part]")) {
    const next = fresh.getElementById(part.id);
    if (next) part.replaceWith(document.importNode(next, true));
  }
  document.dispatchEvent(new CustomEvent("console:swapped"));
}

function fail(text) {
  const box = document.getElementById("console-message");
  if (!box) return;
  const p = document.createElement("p");
  p.className = "form-message";
  p.setAttribute("role", "alert");
  p.textContent = text;
  box.replaceChildren(p);
}

if (root) {
  root.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.closest("[data-console-part]")) return;
    event.preventDefault();
    const button = event.submitter || form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { accept: "text/html" },
        credentials: "same-origin",
      });
      const type = response.headers.get("content-type") || "";
      if (type.startsWith("text/html")) {
        const html = await response.text();
        if (response.ok || response.status === 422) swapParts(html);
        else fail(new DOMParser().parseFromString(html, "text/html").querySelector("main")?.textContent.trim() || root.dataset.tFailed);
      } else {
        fail(root.dataset.tFailed);
      }
    } catch {
      fail(root.dataset.tFailed);
    } finally {
      if (button && button.isConnected) button.disabled = false;
    }
  });
}

// Going live from this page changes what the console offers: fetch it again, keep the stream.
document.addEventListener("fieldcast:live", async () => {
  try {
    const response = await fetch(location.pathname, { headers: { accept: "text/html" }, credentials: "same-origin" });
    if (response.ok) swapParts(await response.text());
  } catch {
    // the next action's response brings the console up to date
  }
});
