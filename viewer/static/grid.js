// photoshelf viewer: the grids. Infinite scroll (the "More photos" link fetched as a fragment as it nears the
// viewport), the dense timeline's wide days, the date scrubber following the scroll, new photos appearing while
// the page is open (polling /api/v1/state), and arrow keys between tiles. Uses app.js's appUrl and CSRF_HEADERS.
"use strict";

const POLL_MS = 15000; // how often an open timeline asks whether new photos arrived (one index probe)

const Grid = (function grid() {
  const container = document.getElementById("timeline");
  let observer = null;
  let loading = false;

  // A day whose tiles need more than a line wraps inside itself: its last row then keeps its tiles' widths
  // (grid.css .multi) instead of stretching a photo or two across the screen.
  function markWideDays(root) {
    if (!container || !container.classList.contains("dense")) return;
    const days = (root || container).querySelectorAll(".day");
    if (!days.length) return;
    const width = container.clientWidth;
    const style = getComputedStyle(document.documentElement);
    const row = parseFloat(style.getPropertyValue("--row")) || 190;
    const gap = parseFloat(style.getPropertyValue("--gap")) || 4;
    days.forEach((day) => {
      const w = parseFloat(day.style.getPropertyValue("--w")) || 0;
      const n = day.querySelectorAll(".tile").length;
      day.style.setProperty("--n", n);
      day.classList.toggle("multi", w * row + (n - 1) * gap > width);
    });
    // Likewise a month that needs more than a line: its last line of days keeps their widths.
    container.querySelectorAll("section.monthblock").forEach((month) => {
      const mw = parseFloat(month.style.getPropertyValue("--mw")) || 0;
      const n = month.querySelectorAll(".tile").length;
      month.classList.toggle("multi", mw * row + n * gap > width);
    });
  }

  function append(fragment) {
    const months = fragment.querySelectorAll("section.monthblock");
    if (months.length) {
      months.forEach((month, i) => {
        const last = container.querySelector("section.monthblock:last-of-type");
        if (i === 0 && last && last.dataset.month === month.dataset.month) {
          const into = last.querySelector(".days");
          month.querySelectorAll("section.day").forEach((day, j) => {
            const lastDay = into.querySelector("section.day:last-of-type");
            if (j === 0 && lastDay && lastDay.dataset.day === day.dataset.day) {
              // A day that continues on the next page stays one section.
              lastDay.querySelector(".grid").append(...day.querySelector(".grid").children);
              const w = (parseFloat(lastDay.style.getPropertyValue("--w")) || 0) + (parseFloat(day.style.getPropertyValue("--w")) || 0);
              lastDay.style.setProperty("--w", w.toFixed(3));
            } else {
              into.append(day);
            }
          });
          // The month is as wide as its days side by side (grid.css --mw), now with the new ones.
          const mw = [...into.querySelectorAll("section.day")].reduce((sum, d) => sum + (parseFloat(d.style.getPropertyValue("--w")) || 0), 0);
          last.style.setProperty("--mw", mw.toFixed(3));
          return;
        }
        container.append(month);
      });
      markWideDays();
      return;
    }
    const grid = fragment.querySelector(".grid");
    const target = container.querySelector(".grid");
    if (grid && target) target.append(...grid.children);
  }

  async function fetchFragment(href) {
    const url = new URL(href, location.href);
    url.searchParams.set("partial", "1");
    const response = await fetch(url, { headers: { Accept: "text/html", ...CSRF_HEADERS } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const template = document.createElement("template");
    template.innerHTML = await response.text();
    return template.content;
  }

  function watchMore(link) {
    if (link && observer) observer.observe(link);
  }

  if (container && "IntersectionObserver" in window) {
    observer = new IntersectionObserver(async (entries) => {
      const entry = entries.find((e) => e.isIntersecting);
      if (!entry || loading) return;
      const link = entry.target;
      loading = true;
      try {
        const fragment = await fetchFragment(link.href);
        const next = fragment.querySelector("#more");
        if (next) next.remove();
        append(fragment);
        observer.unobserve(link);
        link.remove();
        if (next) { container.after(next); watchMore(next); }
        document.dispatchEvent(new CustomEvent("photoshelf:page"));
      } catch (err) {
        link.textContent = "Could not load more photos: tap to retry";
        console.warn("photoshelf: loading the next page failed", err);
      } finally {
        loading = false;
      }
    }, { rootMargin: "1500px 0px" });
    watchMore(document.getElementById("more"));
  }
  if (container) {
    markWideDays();
    let timer = 0;
    addEventListener("resize", () => { clearTimeout(timer); timer = setTimeout(() => markWideDays(), 120); });
  }

  // Start again from the first page (new photos arrived): what was loaded below it is dropped.
  async function reload() {
    const url = new URL(location.href);
    url.searchParams.delete("cursor");
    const fragment = await fetchFragment(url.href);
    const next = fragment.querySelector("#more");
    if (next) next.remove();
    const old = document.getElementById("more");
    if (old) { if (observer) observer.unobserve(old); old.remove(); }
    container.replaceChildren(...fragment.children);
    markWideDays();
    if (next) { container.after(next); watchMore(next); }
    document.dispatchEvent(new CustomEvent("photoshelf:page"));
  }

  return { container, reload, markWideDays, keep: 2000 };
})();

// A bounded page: once the timeline holds more than Grid.keep tiles, days far from the screen (3000 px and more)
// give up their tiles (kept as HTML text, their height held) and get them back as they come near, so a long
// scroll through 100k photos holds a few screens of elements, not every photo seen. select.js re-marks what
// was selected in a day that comes back ("photoshelf:restored").
(function bounded() {
  const container = Grid.container;
  if (!container || !container.classList.contains("dense") || !("IntersectionObserver" in window)) return;
  const asleep = new Map(); // day -> its tiles' HTML
  let on = false;
  const io = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const day = entry.target;
      const grid = day.querySelector(".grid");
      if (!grid) continue;
      if (!entry.isIntersecting && !asleep.has(day) && grid.childElementCount && !day.contains(document.activeElement)) {
        day.style.height = `${entry.boundingClientRect.height}px`;
        asleep.set(day, grid.innerHTML);
        grid.replaceChildren();
        day.classList.add("asleep");
      } else if (entry.isIntersecting && asleep.has(day)) {
        grid.innerHTML = asleep.get(day);
        asleep.delete(day);
        day.style.height = "";
        day.classList.remove("asleep");
        document.dispatchEvent(new CustomEvent("photoshelf:restored", { detail: day }));
      }
    }
  }, { rootMargin: "3000px 0px" });
  function check() {
    for (const day of asleep.keys()) if (!day.isConnected) asleep.delete(day); // the page started again
    if (!on && container.querySelectorAll(".tile").length > Grid.keep) on = true;
    if (on) container.querySelectorAll("section.day:not([data-watched])").forEach((d) => { d.dataset.watched = "1"; io.observe(d); });
  }
  document.addEventListener("photoshelf:page", check);
  Grid.sleeping = () => asleep.size;
  check();
})();

// The scrubber: open on wide screens (on a phone it is a "Jump to" menu), and the year and month in view marked.
(function scrubber() {
  const nav = document.getElementById("scrubber");
  if (!nav) return;
  const fold = nav.querySelector("details");
  const wide = matchMedia("(min-width: 761px)");
  const follow = () => { if (fold) fold.open = wide.matches; };
  follow();
  wide.addEventListener("change", follow);
  function mark(monthKey) {
    if (!monthKey) return;
    const year = monthKey.slice(0, 4);
    nav.querySelectorAll(".current").forEach((e) => e.classList.remove("current"));
    const li = nav.querySelector(`.scrubyear[data-year="${CSS.escape(year)}"]`);
    if (li) li.classList.add("current");
    const link = nav.querySelector(`a[data-month="${CSS.escape(monthKey)}"]`);
    if (link) { link.classList.add("current"); if (wide.matches) link.scrollIntoView({ block: "nearest" }); }
  }
  if (!Grid.container || !("IntersectionObserver" in window)) return;
  const seen = new IntersectionObserver((entries) => {
    const hit = entries.filter((e) => e.isIntersecting).sort((a, b) => a.boundingClientRect.top - b.boundingClientRect.top)[0];
    if (hit) mark(hit.target.dataset.month);
  }, { rootMargin: "-20% 0px -70% 0px" });
  const watch = () => Grid.container.querySelectorAll("section.monthblock").forEach((m) => seen.observe(m));
  watch();
  document.addEventListener("photoshelf:page", watch);
  const first = Grid.container.querySelector("section.monthblock");
  if (first) mark(first.dataset.month);
})();

// New photos while the page is open: the timeline's first page carries the newest photo's id (data-latest); a
// cheap probe of /api/v1/state says when a newer one exists. At the top of the timeline the new photos just
// appear; further down a "New photos" pill brings them.
(function live() {
  const timeline = Grid.container;
  if (!timeline || timeline.dataset.latest === undefined) return;
  const params = new URLSearchParams(location.search);
  if (params.has("cursor") || params.has("part") || params.has("q")) return; // not the top of the timeline
  let latest = Number(timeline.dataset.latest) || 0;
  let busy = false;
  const pill = document.createElement("button");
  pill.type = "button"; pill.className = "newphotos"; pill.hidden = true; pill.textContent = "↑ New photos";
  document.body.append(pill);
  const status = document.createElement("div");
  status.className = "sr-only"; status.setAttribute("role", "status");
  status.style.cssText = "position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)";
  document.body.append(status);

  async function show() {
    pill.hidden = true;
    await Grid.reload();
    status.textContent = "New photos were added at the top";
  }
  pill.addEventListener("click", async () => { await show(); scrollTo({ top: 0, behavior: "smooth" }); });

  async function poll() {
    if (busy || document.visibilityState !== "visible") return;
    busy = true;
    try {
      const response = await fetch(appUrl("/api/v1/state"), { headers: CSRF_HEADERS, cache: "no-store" });
      if (!response.ok) return;
      const now = Number((await response.json()).latest) || 0;
      if (now <= latest) return;
      latest = now;
      if (scrollY < 300 && !document.body.classList.contains("selecting")) await show();
      else pill.hidden = false;
    } catch (err) {
      console.info("photoshelf: could not ask for new photos", err);
    } finally {
      busy = false;
    }
  }
  setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", poll);
  addEventListener("focus", poll);
})();

// Arrow keys move between tiles (left/right in order, up/down to the nearest tile of the row above or below);
// Enter opens the photo (a tile is a link), or selects it while selecting.
(function arrows() {
  document.addEventListener("keydown", (event) => {
    const tile = event.target.closest && event.target.closest(".tile");
    if (!tile || event.altKey || event.ctrlKey || event.metaKey) return;
    const keys = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -2, ArrowDown: 2, Home: -3, End: 3 };
    const step = keys[event.key];
    if (step === undefined) return;
    const tiles = [...document.querySelectorAll(".tile")];
    const i = tiles.indexOf(tile);
    let target = null;
    if (step === 1 || step === -1) target = tiles[i + step];
    else if (step === -3) target = tiles[0];
    else if (step === 3) target = tiles[tiles.length - 1];
    else {
      const here = tile.getBoundingClientRect();
      const centre = here.left + here.width / 2;
      const down = step > 0;
      let best = null, bestRow = null, bestDist = Infinity;
      for (let j = i + (down ? 1 : -1); j >= 0 && j < tiles.length && Math.abs(j - i) < 200; j += down ? 1 : -1) {
        const r = tiles[j].getBoundingClientRect();
        const beyond = down ? r.top >= here.bottom - 1 : r.bottom <= here.top + 1;
        if (!beyond) continue;
        if (bestRow === null) bestRow = r.top;
        if (Math.abs(r.top - bestRow) > 2) break; // past the nearest row
        const dist = Math.abs(r.left + r.width / 2 - centre);
        if (dist < bestDist) { best = tiles[j]; bestDist = dist; }
      }
      target = best;
    }
    if (!target) return;
    event.preventDefault();
    target.focus();
    target.scrollIntoView({ block: "nearest" });
  });
})();

// Recent searches: kept in this browser only (localStorage), shown on the search page before anything is typed.
(function recentSearches() {
  const KEY = "photoshelf-recent-searches";
  const read = () => { try { return JSON.parse(localStorage.getItem(KEY) || "[]").filter((q) => typeof q === "string"); } catch { return []; } };
  const q = new URLSearchParams(location.search).get("q");
  if (q && q.trim() && location.pathname === appUrl("/search") && !document.querySelector(".qerror")) {
    const list = [q.trim(), ...read().filter((x) => x !== q.trim())].slice(0, 8);
    try { localStorage.setItem(KEY, JSON.stringify(list)); } catch { /* private mode: nothing kept */ }
  }
  const box = document.getElementById("recent");
  if (!box) return;
  const list = read();
  if (!list.length) return;
  const chips = box.querySelector(".chips");
  for (const text of list) {
    const a = document.createElement("a");
    a.className = "chip";
    a.href = appUrl("/search?q=" + encodeURIComponent(text));
    a.textContent = text;
    chips.append(a);
  }
  box.hidden = false;
})();
