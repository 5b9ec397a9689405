// The photo page: the large preview replaces the smaller picture once loaded; arrows, swipes and keys step
// through the listing the photo was opened from; a small map shows where it was taken.
"use strict";

(function photoPage() {
  const viewer = document.querySelector(".viewer");
  if (!viewer) return;
  const { prev, next, back } = viewer.dataset;

  const img = document.getElementById("photo");
  if (img && img.dataset.preview) {
    const large = new Image();
    large.onload = () => { img.src = large.src; };
    large.src = img.dataset.preview;
  }
  for (const href of [next, prev]) {
    if (!href) continue;
    const link = document.createElement("link");
    link.rel = "prefetch"; link.href = href;
    document.head.append(link);
  }

  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select") || event.metaKey || event.ctrlKey || event.altKey) return;
    const click = (id) => { const el = document.getElementById(id); if (el) el.click(); };
    const edit = (id) => { if (CAN_EDIT) click(id); };  // viewers and public visitors change nothing (app.js)
    switch (event.key) {
      case "ArrowLeft": if (prev) location.href = prev; break;
      case "ArrowRight": if (next) location.href = next; break;
      case "Escape": location.href = back; break;
      case "f": edit("fav"); break;
      case "r": edit("rotr"); break;
      case "l": edit("rotl"); break;
      case "d": click("download"); break;
      default: return;
    }
  });

  const stage = document.getElementById("stage");
  let x0 = null, y0 = null;
  stage.addEventListener("touchstart", (e) => { x0 = e.touches[0].clientX; y0 = e.touches[0].clientY; }, { passive: true });
  stage.addEventListener("touchend", (e) => {
    if (x0 === null) return;
    const dx = e.changedTouches[0].clientX - x0, dy = e.changedTouches[0].clientY - y0;
    x0 = null;
    if (Math.abs(dx) < 50 || Math.abs(dx) < Math.abs(dy) * 1.5) return;
    if (dx > 0 && prev) location.href = prev;
    if (dx < 0 && next) location.href = next;
  });

  const mini = document.getElementById("minimap");
  if (mini && window.L) {
    const at = [parseFloat(mini.dataset.lat), parseFloat(mini.dataset.lon)];
    const map = L.map(mini, { zoomControl: false, attributionControl: !!mini.dataset.tiles }).setView(at, 12);
    if (mini.dataset.tiles) L.tileLayer(mini.dataset.tiles, { attribution: mini.dataset.attribution, maxZoom: 19 }).addTo(map);
    L.circleMarker(at, { radius: 8, color: "#fff", weight: 2, fillColor: "#2563eb", fillOpacity: 1 }).addTo(map);
  }
})();
