// A show's clips page (clips/session_clips.html): the replay plays here (hls.js where the browser
// has no HLS of its own), "Set start" / "Set end" put the player's current time into the form, a
// mark's time seeks to it; while a clip is being cut its state is polled every few seconds and
// the page reloads once no clip is waiting any more (never while nothing changed, so a form being
// filled in is not lost for nothing). The form itself works without this script (times typed in).

const POLL_MS = 3000;
const root = document.getElementById("clip-cutter");
const video = document.getElementById("replay-video");

function attach() {
  const url = root?.dataset.hlsUrl;
  if (!video || !url) return;
  if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url;
  } else if (window.Hls && window.Hls.isSupported()) {
    const hls = new window.Hls();
    hls.loadSource(url);
    hls.attachMedia(video);
  }
}

function bind() {
  for (const button of document.querySelectorAll("[data-set]")) {
    button.addEventListener("click", () => {
      const input = document.querySelector(button.dataset.set === "start" ? "#clip-start" : "#clip-end");
      if (video && input) input.value = video.currentTime.toFixed(1);
    });
  }
  for (const button of document.querySelectorAll("[data-seek]")) {
    button.addEventListener("click", () => {
      if (!video) return;
      video.currentTime = Number(button.dataset.seek) || 0;
      video.play().catch(() => {});
    });
  }
}

// hls.min.js is a deferred classic script: it has run by the time this module runs.
attach();
bind();
async function watchWaiting() {
  try {
    const response = await fetch(root.dataset.clipsUrl, { headers: { accept: "application/json" }, credentials: "same-origin" });
    if (response.ok) {
      const body = await response.json();
      if (!body.clips.some((c) => c.state === "pending" || c.state === "cutting")) {
        location.reload();
        return;
      }
    }
  } catch {
    // offline for a moment: look again
  }
  setTimeout(watchWaiting, POLL_MS);
}

if (root?.dataset.waiting) setTimeout(watchWaiting, POLL_MS);
