// photoshelf viewer: progressive enhancement for every page. The pages work without it; this adds
// infinite scroll, selecting photos for albums, the theme switch and keyboard shortcuts.
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

// Infinite scroll: the "More photos" link is fetched as a fragment when it comes near the viewport. A day that
// continues across pages is merged into one section.
(function infiniteScroll() {
  const container = document.getElementById("timeline");
  if (!container || !("IntersectionObserver" in window)) return;
  let loading = false;
  const observer = new IntersectionObserver(async (entries) => {
    const entry = entries.find((e) => e.isIntersecting);
    if (!entry || loading) return;
    const link = entry.target;
    loading = true;
    try {
      const url = new URL(link.href, location.href);
      url.searchParams.set("partial", "1");
      const response = await fetch(url, { headers: { Accept: "text/html", ...CSRF_HEADERS } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const template = document.createElement("template");
      template.innerHTML = await response.text();
      append(template.content);
      observer.unobserve(link);
      link.remove();
      const next = template.content.querySelector("#more") || null;
      if (next) { container.after(next); observer.observe(next); }
      document.dispatchEvent(new CustomEvent("photoshelf:page"));
    } catch (err) {
      link.textContent = "Could not load more photos: tap to retry";
      console.warn("photoshelf: loading the next page failed", err);
    } finally {
      loading = false;
    }
  }, { rootMargin: "1500px 0px" });

  function append(fragment) {
    const sections = fragment.querySelectorAll("section.day");
    if (sections.length) {
      sections.forEach((section, i) => {
        const last = container.querySelector("section.day:last-of-type");
        if (i === 0 && last && last.dataset.day === section.dataset.day) {
          last.querySelector(".grid").append(...section.querySelector(".grid").children);
          return;
        }
        if (i === 0 && last && last.dataset.month === section.dataset.month) {
          const month = section.querySelector(".month");
          if (month) month.remove();
        }
        container.append(section);
      });
      return;
    }
    const grid = fragment.querySelector(".grid");
    const target = container.querySelector(".grid");
    if (grid && target) target.append(...grid.children);
  }

  const more = document.getElementById("more");
  if (more) observer.observe(more);
})();

// Selecting photos: "Select" (or the s key) turns clicks on tiles into selection; the bar at the bottom then
// adds them to an album (or removes them from the album shown). It is a plain form, filled in here.
(function selection() {
  const bar = document.getElementById("selbar");
  const start = document.querySelector(".selstart");
  if (!CAN_EDIT || !bar || !start) return;
  const selected = new Set();
  const count = bar.querySelector(".selcount");
  const choice = bar.querySelector(".album-choice");
  const title = bar.querySelector(".album-title");
  let albumsLoaded = false;

  function sync() {
    bar.querySelectorAll("input[name=photo]").forEach((i) => i.remove());
    for (const id of selected) {
      const input = document.createElement("input");
      input.type = "hidden"; input.name = "photo"; input.value = id;
      bar.append(input);
    }
    count.textContent = `${selected.size} selected`;
    bar.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = selected.size === 0; });
  }
  async function loadAlbums() {
    if (!choice || albumsLoaded) return;
    albumsLoaded = true;
    const response = await fetch(appUrl("/api/v1/albums"), { headers: CSRF_HEADERS });
    if (!response.ok) return;
    for (const album of (await response.json()).albums) {
      const option = document.createElement("option");
      option.value = album.id; option.textContent = `${album.title} (${album.count})`;
      choice.append(option);
    }
  }
  function begin() {
    document.body.classList.add("selecting");
    bar.hidden = false;
    sync();
    loadAlbums();
  }
  function end() {
    document.body.classList.remove("selecting");
    bar.hidden = true;
    selected.clear();
    document.querySelectorAll(".tile.selected").forEach((t) => t.classList.remove("selected"));
  }
  start.addEventListener("click", () => (document.body.classList.contains("selecting") ? end() : begin()));
  bar.querySelector(".selclear").addEventListener("click", end);
  if (choice && title) {
    choice.addEventListener("change", () => { title.hidden = choice.value !== "new"; });
  }
  bar.addEventListener("submit", (event) => {
    if (choice && title && choice.value === "new" && !title.value.trim()) {
      event.preventDefault();
      title.focus();
      title.placeholder = "Name the new album";
    }
  });
  document.addEventListener("click", (event) => {
    if (!document.body.classList.contains("selecting")) return;
    const tile = event.target.closest(".tile");
    if (!tile) return;
    event.preventDefault();
    const id = tile.dataset.id;
    if (selected.has(id)) { selected.delete(id); tile.classList.remove("selected"); }
    else { selected.add(id); tile.classList.add("selected"); }
    sync();
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select")) return;
    if (event.key === "s") { begin(); }
    if (event.key === "Escape" && document.body.classList.contains("selecting")) { end(); }
  });
})();

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
