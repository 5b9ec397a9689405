// The map: clusters of geotagged photos computed by the server for the visible area and zoom, drawn as
// thumbnails with counts. Works without background tiles (viewer.tile_url = "").
"use strict";

(function mapPage() {
  const el = document.getElementById("map");
  if (!el || !window.L) return;
  const q = el.dataset.q || "";
  const map = L.map(el, { worldCopyJump: true, attributionControl: !!el.dataset.tiles, minZoom: 0 });
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

  const MERGE_PX = 56;
  let seq = 0;
  async function refresh() {
    const mine = ++seq;
    const b = map.getBounds().pad(0.3);
    const params = new URLSearchParams({
      q, zoom: String(Math.round(map.getZoom())),
      bbox: [Math.max(-90, b.getSouth()), b.getWest(), Math.min(90, b.getNorth()), b.getEast()].map((v) => v.toFixed(5)).join(","),
    });
    const response = await fetch(appUrl(`/api/v1/map?${params}`), {
      headers: { "X-CSRF-Token": (document.querySelector('meta[name="csrf-token"]') || {}).content || "" },
    });
    if (!response.ok || mine !== seq) return;
    const data = await response.json();
    layer.clearLayers();
    const markers = merge(data.features);
    for (const m of markers) {
      const size = m.count === 1 ? 48 : Math.min(72, 48 + Math.log10(m.count) * 10);
      const html = m.tile
        ? `<div class="photomarker" style="width:${size}px;height:${size}px"><img src="${m.tile}" alt="">` +
          (m.count > 1 ? `<span>${m.count}</span>` : "") + "</div>"
        : `<div class="cluster" style="width:${size}px;height:${size}px">${m.count}</div>`;
      const marker = L.marker(m.at, {
        icon: L.divIcon({ html, className: "", iconSize: [size, size], iconAnchor: [size / 2, size / 2] }),
        title: m.count === 1 ? "1 photo" : `${m.count} photos`,
      });
      marker.on("click", () => {
        if (m.count === 1) { location.href = appUrl(`/photos/${m.photo}${q ? `?q=${encodeURIComponent(q)}` : ""}`); return; }
        // A merged marker zooms to what it holds; one cell of the server's grid splits in about three steps.
        const zoom = map.getZoom();
        const point = m.bounds.getSouthWest().equals(m.bounds.getNorthEast());
        const fit = point ? zoom + 3 : Math.max(zoom + 2, Math.min(map.getBoundsZoom(m.bounds.pad(0.5)), zoom + 6));
        map.setView(m.bounds.getCenter(), Math.min(19, fit));
      });
      layer.addLayer(marker);
    }
    el.dataset.markers = String(markers.length);
    if (counter) counter.textContent = `${data.count.toLocaleString()} ${data.count === 1 ? "photo" : "photos"} here`;
    history.replaceState(null, "", `#${map.getCenter().lat.toFixed(5)},${map.getCenter().lng.toFixed(5)},${map.getZoom()}`);
  }
  // The server clusters on a grid, so two cells that meet at a border can put markers on top of each other:
  // markers closer than a marker's width are drawn as one (the biggest cluster keeps its place and picture).
  function merge(features) {
    const sorted = features.slice().sort((a, b) => b.properties.count - a.properties.count);
    const out = [];
    for (const f of sorted) {
      const [lon, lat] = f.geometry.coordinates;
      const p = map.latLngToLayerPoint([lat, lon]);
      const near = out.find((m) => Math.abs(m.x - p.x) < MERGE_PX && Math.abs(m.y - p.y) < MERGE_PX);
      if (near) {
        near.count += f.properties.count;
        near.bounds.extend([lat, lon]);
        continue;
      }
      const { count, photo, tile } = f.properties;
      out.push({ x: p.x, y: p.y, at: [lat, lon], count, photo, tile, bounds: L.latLngBounds([lat, lon], [lat, lon]) });
    }
    return out;
  }

  map.on("moveend", refresh);
  refresh();
})();
