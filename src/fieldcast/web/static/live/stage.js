// The room's stage on a phone (app.css, "the room's layout"): the shopping bag opens the shelf as
// a bottom sheet over the playing video (the close button or Escape closes it; the buy sheet opens
// over it and closes back to it); the video is cover-fit for a portrait stream and letterboxed for a landscape one;
// a like sends a heart floating up; a tap on the co-stream's small picture swaps the two; banners
// under the head say a draw or coupons are on. Nothing here changes what is sent to the server.

const room = document.getElementById("room");
const sheet = document.getElementById("shelf-col");
const HEARTS_MAX = 12;

function setOpen(open) {
  if (!room || !sheet) return;
  room.classList.toggle("shelf-open", open);
  for (const button of document.querySelectorAll("[data-shelf-open]")) button.setAttribute("aria-expanded", String(open));
  if (open) sheet.querySelector("[data-shelf-close]")?.focus();
  else document.querySelector(".bag[data-shelf-open]")?.focus();
}

export function openShelf() {
  setOpen(true);
}

for (const button of document.querySelectorAll("[data-shelf-open]")) button.addEventListener("click", () => setOpen(true));
sheet?.querySelector("[data-shelf-close]")?.addEventListener("click", () => setOpen(false));
document.addEventListener("keydown", (event) => {
  // Escape closes the buy sheet first when it is open over the shelf.
  if (event.key === "Escape" && room?.classList.contains("shelf-open") && !document.querySelector("dialog[open]")) setOpen(false);
});

// The stage takes what is left of the first screen under the site header; on the phone's stage
// the video has no browser controls over the chat (tap to unmute stays; the bag and chat are there).
const stageCol = document.querySelector(".room .stage-col");
const phone = window.matchMedia("(max-width: 767px)");
function fit() {
  if (!room || !stageCol) return;
  const top = stageCol.getBoundingClientRect().top + window.scrollY;
  room.style.setProperty("--stage-h", `${Math.max(Math.round(window.innerHeight - top), 448)}px`);
  const video = document.getElementById("room-video");
  if (video && room.dataset.state === "live") video.controls = !phone.matches;
}
fit();
window.addEventListener("resize", fit);
phone.addEventListener("change", fit);

// Portrait streams fill the phone's screen; landscape ones are shown whole.
for (const video of document.querySelectorAll(".room .screen video")) {
  const screen = video.closest(".screen");
  const mark = () => {
    if (video.videoWidth && video.videoHeight) {
      screen.dataset.orientation = video.videoWidth >= video.videoHeight ? "landscape" : "portrait";
    }
  };
  video.addEventListener("loadedmetadata", mark);
  video.addEventListener("resize", mark);
}

// A heart floats up from the like button, a few at a time at most.
document.querySelector("[data-react=like]")?.addEventListener("click", () => {
  if (!stageCol || stageCol.querySelectorAll(".floating-heart").length >= HEARTS_MAX) return;
  const heart = document.createElement("span");
  heart.className = "floating-heart";
  heart.setAttribute("aria-hidden", "true");
  heart.textContent = "♥";
  heart.style.setProperty("--drift", `${Math.round(Math.random() * 40 - 30)}px`);
  heart.addEventListener("animationend", () => heart.remove());
  stageCol.append(heart);
});

// Co-stream: a tap on the small picture makes it the big one (the link in it still leads away).
document.querySelector(".room .screen.partner")?.addEventListener("click", (event) => {
  if (event.target instanceof Element && event.target.closest("a")) return;
  document.querySelector(".room .stage")?.classList.toggle("swapped");
});

// Banners: a draw open for entries, coupons to claim.
const drawsBanner = document.querySelector("[data-banner=draws]");
const couponsBanner = document.querySelector("[data-banner=coupons]");
function banners() {
  if (drawsBanner) drawsBanner.hidden = !document.querySelector("#draw-list [data-state=open]");
  if (couponsBanner) couponsBanner.hidden = !document.querySelector("#coupons .coupon-card:not(.is-gone) [data-claim]");
}
const drawList = document.getElementById("draw-list");
if (drawList) new MutationObserver(banners).observe(drawList, { subtree: true, attributes: true, attributeFilter: ["data-state"], childList: true });
const coupons = document.getElementById("coupons");
if (coupons) new MutationObserver(banners).observe(coupons, { subtree: true, childList: true, attributes: true, attributeFilter: ["class"] });
banners();
