// photoshelf viewer: selecting photos in a grid and acting on all of them (the selection bar, _grid.html).
// "Select" (or the s key) turns clicks on tiles into selection; shift-click selects the run from the last tile
// clicked; Escape ends it. Loaded for every logged-in role (base.html); a viewer's bar has only Download and Cancel
// (_grid.html). app.js's CSRF_HEADERS and appUrl().
"use strict";

(function selection() {
  const bar = document.getElementById("selbar");
  const start = document.querySelector(".selstart");
  if (!CAN_SELECT || !bar || !start) return;
  const selected = new Set();
  const count = bar.querySelector(".selcount");
  const message = bar.querySelector(".selmsg");
  const choice = bar.querySelector(".album-choice");
  const title = bar.querySelector(".album-title");
  let albumsLoaded = false;
  let anchor = null; // the last tile clicked: shift-click selects from it

  const selecting = () => document.body.classList.contains("selecting");
  const tileOf = (id) => document.querySelector(`.tile[data-id="${CSS.escape(String(id))}"]`);

  function say(text, bad) {
    message.textContent = text;
    message.classList.toggle("bad", Boolean(bad));
  }
  function sync() {
    bar.querySelectorAll("input[name=photo]").forEach((i) => i.remove());
    for (const id of selected) {
      const input = document.createElement("input");
      input.type = "hidden"; input.name = "photo"; input.value = id;
      bar.append(input);
    }
    count.textContent = `${selected.size} selected`;
    bar.querySelectorAll(".selactions button:not(.selclear)").forEach((b) => { b.disabled = selected.size === 0; });
    const fav = bar.querySelector('[data-flag="favorite"]');
    if (fav) {
      const all = selected.size > 0 && [...selected].every((id) => { const t = tileOf(id); return t && t.querySelector(".fav"); });
      fav.dataset.value = all ? "false" : "true";
      fav.textContent = all ? "☆ Unfavorite" : "★ Favorite";
    }
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
    start.setAttribute("aria-pressed", "true");
    bar.hidden = false;
    say("");
    sync();
    loadAlbums();
  }
  function end() {
    document.body.classList.remove("selecting");
    start.setAttribute("aria-pressed", "false");
    bar.hidden = true;
    selected.clear();
    anchor = null;
    document.querySelectorAll(".tile.selected").forEach((t) => { t.classList.remove("selected"); t.removeAttribute("aria-selected"); });
  }
  function choose(tile, on) {
    const id = tile.dataset.id;
    if (on) { selected.add(id); tile.classList.add("selected"); tile.setAttribute("aria-selected", "true"); }
    else { selected.delete(id); tile.classList.remove("selected"); tile.removeAttribute("aria-selected"); }
  }

  start.addEventListener("click", () => (selecting() ? end() : begin()));
  bar.querySelector(".selclear").addEventListener("click", end);
  if (choice && title) choice.addEventListener("change", () => { title.hidden = choice.value !== "new"; });

  // Favorite, archive, private: one PATCH for all of them, then the grid shows the result.
  bar.querySelectorAll("button[data-flag]").forEach((button) => button.addEventListener("click", async () => {
    const flag = button.dataset.flag;
    const value = button.dataset.value !== "false";
    const ids = [...selected].map(Number);
    button.disabled = true;
    try {
      const response = await fetch(appUrl("/api/v1/photos"), {
        method: "PATCH", headers: { "Content-Type": "application/json", ...CSRF_HEADERS },
        body: JSON.stringify({ photos: ids, set: { [flag]: value } }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) { say(body.error || `Could not change them (HTTP ${response.status})`, true); return; }
      for (const id of ids) {
        const tile = tileOf(id);
        if (!tile) continue;
        if (flag === "favorite") {
          const mark = tile.querySelector(".fav");
          if (value && !mark) tile.insertAdjacentHTML("beforeend", '<span class="fav" aria-label="favorite">★</span>');
          if (!value && mark) mark.remove();
        } else {
          tile.remove(); // archived (or back from the archive), private (or not): it leaves this listing
          selected.delete(String(id));
        }
      }
      const words = { favorite: value ? "favorited" : "unfavorited", archived: value ? "archived" : "unarchived",
                      private: value ? "made private" : "made not private" };
      sync();
      say(`${ids.length} ${words[flag]}`);
    } finally {
      button.disabled = selected.size === 0;
    }
  }));

  bar.addEventListener("submit", (event) => {
    const via = event.submitter;
    if (via && via.classList.contains("seladd") && choice && title && choice.value === "new" && !title.value.trim()) {
      event.preventDefault();
      title.focus();
      title.placeholder = "Name the new album";
    }
    if (via && via.classList.contains("seldownload")) say(`Preparing a zip of ${selected.size}…`);
  });

  document.addEventListener("click", (event) => {
    if (!selecting()) return;
    const tile = event.target.closest(".tile");
    if (!tile) return;
    event.preventDefault();
    if (event.shiftKey && anchor && anchor.isConnected && anchor !== tile) {
      // Shift-click: the run between the last tile clicked and this one, in the grid's order, all selected.
      const tiles = [...document.querySelectorAll(".tile")];
      const [a, b] = [tiles.indexOf(anchor), tiles.indexOf(tile)].sort((x, y) => x - y);
      tiles.slice(a, b + 1).forEach((t) => choose(t, true));
    } else {
      choose(tile, !selected.has(tile.dataset.id));
    }
    anchor = tile;
    sync();
  });
  // A day of the timeline that gave up its tiles far off screen (grid.js) and has them back: mark the selected.
  document.addEventListener("photoshelf:restored", (event) => {
    event.detail.querySelectorAll(".tile").forEach((t) => { if (selected.has(t.dataset.id)) choose(t, true); });
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "s" && !selecting()) { begin(); }
    else if (event.key === "Escape" && selecting()) { end(); start.focus(); }
    else if (event.key === "f" && selecting() && selected.size) { bar.querySelector('[data-flag="favorite"]')?.click(); }
  });
})();
