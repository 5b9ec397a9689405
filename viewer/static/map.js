// The map: clusters of geotagged photos computed by the server for the visible area and zoom, drawn as
// thumbnails with counts. Works without background tiles (viewer.tile_url = "").
"use strict";

(function mapPage() {
  const el = document.getElementById("map");
  if (!el || !window.L) return;
  const q = el.dataset.q || "";
  const map = L.map(el, { worldCopyJump: true, attributionControl: !!el.dataset.tiles, minZoom: 1 });
  if (el.dataset.tiles) {
    L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution, maxZoom: 19 }).addTo(map);
  }
  const layer = L.layerGroup().addTo(map);
  const counter = document.getElementById("mapcount");

  const hash = location.hash.slice(1).split(",").map(Number);
  if (hash.length === 3 && hash.every((n) => !Number.isNaN(n))) {
    map.setView([hash[0], hash[1]], hash[2]);
  } else if (el.dataset.bounds) {
    const [s, w, n, e] = JSON.parse(el.dataset.bounds);
    map.fitBounds([[s, w], [n, e]], { padding: [40, 40], maxZoom: 14 });
  } else {
    map.setView([20, 0], 2);
  }

  let seq = 0;
  async function refresh() {
    const mine = ++seq;
    const b = map.getBounds().pad(0.3);
    const params = new URLSearchParams({
      q, zoom: String(Math.round(map.getZoom())),
      bbox: [Math.max(-90, b.getSouth()), b.getWest(), Math.min(90, b.getNorth()), b.getEast()].map((v) => v.toFixed(5)).join(","),
    });
    const response = await fetch(`/api/v1/map?${params}`);
    if (!response.ok || mine !== seq) return;
    const data = await response.json();
    layer.clearLayers();
    for (const f of data.features) {
      const [lon, lat] = f.geometry.coordinates;
      const { count, photo, tile } = f.properties;
      const size = count === 1 ? 48 : Math.min(72, 48 + Math.log10(count) * 10);
      const html = tile
        ? `<div class="photomarker" style="width:${size}px;height:${size}px"><img src="${tile}" alt="">` +
          (count > 1 ? `<span>${count}</span>` : "") + "</div>"
        : `<div class="cluster" style="width:${size}px;height:${size}px">${count}</div>`;
      const marker = L.marker([lat, lon], {
        icon: L.divIcon({ html, className: "", iconSize: [size, size], iconAnchor: [size / 2, size / 2] }),
        title: count === 1 ? "1 photo" : `${count} photos`,
      });
      marker.on("click", () => {
        if (count === 1) location.href = `/photos/${photo}${q ? `?q=${encodeURIComponent(q)}` : ""}`;
        else map.setView([lat, lon], Math.min(map.getZoom() + 3, 19));
      });
      layer.addLayer(marker);
    }
    el.dataset.markers = String(data.features.length);
    if (counter) counter.textContent = `${data.count.toLocaleString()} ${data.count === 1 ? "photo" : "photos"} here`;
    history.replaceState(null, "", `#${map.getCenter().lat.toFixed(5)},${map.getCenter().lng.toFixed(5)},${map.getZoom()}`);
  }
  map.on("moveend", refresh);
  refresh();
})();
