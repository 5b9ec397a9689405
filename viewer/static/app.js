// photoshelf viewer: progressive enhancement for every page. The pages work without it; this adds the theme
// switch and keyboard shortcuts (grid.js and select.js add the grids' scrolling, keys and selection).
"use strict";

// The page's CSRF token (viewer/auth.py): every fetch() sends it, and every write needs it.
const CSRF_HEADERS = { "X-CSRF-Token": (document.querySelector('meta[name="csrf-token"]') || {}).content || "" };

// The path the viewer is served under behind a reverse proxy ("" at the root of a host; viewer/urls.py). Every
// URL a script makes goes through appUrl(): appUrl("/api/v1/albums") is "/shelf/api/v1/albums" under /shelf.
// The page scripts (map.js, people.js, share.js, ...) load after this one and use it too.
const ROOT_PATH = (document.querySelector('meta[name="root-path"]') || {}).content || "";
function appUrl(path) { return ROOT_PATH + path; }

// Whether this visitor may change anything (admins and members: <body data-can-edit="1">, base.html). Without it
// the editing shortcuts and handlers here and in the page scripts do nothing (the server would answer 403).
const CAN_EDIT = document.body.dataset.canEdit === "1";
// Whether this visitor may select photos to download them (any logged-in role: data-can-select, base.html).
const CAN_SELECT = document.body.dataset.canSelect === "1";

(function theme() {
  const root = document.documentElement;
  const saved = localStorage.getItem("photoshelf-theme");
  if (saved) root.dataset.theme = saved;
  const button = document.querySelector(".theme-toggle");
  if (!button) return;
  button.addEventListener("click", () => {
    const dark = root.dataset.theme === "dark" ||
      (root.dataset.theme !== "light" && matchMedia("(prefers-color-scheme: dark)").matches);
    root.dataset.theme = dark ? "light" : "dark";
    localStorage.setItem("photoshelf-theme", root.dataset.theme);
  });
})();

// Infinite scroll, the timeline's scrubber and live updates, and arrow keys between tiles: static/grid.js.
// Selecting photos and the selection bar: static/select.js (members and admins only).

// A form that asks first (data-confirm), e.g. deleting an album: no inline handlers (the CSP allows no inline script).
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form.js-confirm[data-confirm]");
  if (form && !confirm(form.dataset.confirm)) event.preventDefault();
});

// "/" focuses the search box from anywhere.
document.addEventListener("keydown", (event) => {
  if (event.key === "/" && !event.target.closest("input, textarea, select")) {
    const box = document.querySelector(".searchbox input");
    if (box) { event.preventDefault(); box.focus(); box.select(); }
  }
});
