// The site header's secondary links sit in a <details> disclosure ("Menu") that works without
// JavaScript. On wide screens there is room for them in line: open it there and let CSS (the
// .inline class) drop the summary; on phones keep it a menu that closes on Escape or outside.
const WIDE = matchMedia("(min-width: 1024px)");

for (const menu of document.querySelectorAll("[data-nav-more]")) {
  const sync = () => {
    menu.classList.toggle("inline", WIDE.matches);
    menu.open = WIDE.matches;
  };
  sync();
  WIDE.addEventListener("change", sync);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.open && !WIDE.matches) {
      menu.open = false;
      menu.querySelector("summary")?.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (menu.open && !WIDE.matches && event.target instanceof Node && !menu.contains(event.target)) menu.open = false;
  });
}
