// The photo page: the large preview replaces the smaller picture once loaded; arrows, swipes and keys step
// through the listing the photo was opened from without reloading the page (the neighbours' pages are fetched
// ahead, the address follows with history.pushState, Back works); wheel, pinch, double-click and +/- zoom the
// picture, and a deeper zoom swaps in the original where the browser can show it; a Live Photo plays its motion
// while pointed at or pressed; a small map shows where it was taken.
"use strict";

(function photoPage() {
  let viewer = document.querySelector(".viewer");
  if (!viewer) return;
  const MAX_ZOOM = 8, ORIGINAL_AT = 2;  // the original replaces the 1920 preview past this zoom
  const pages = new Map();  // url -> Promise<Document | null>: the neighbours, fetched ahead
  let zoom = { s: 1, x: 0, y: 0 };
  let stage = null, img = null;

  function fetchPage(url) {
    if (!pages.has(url)) {
      const request = fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then((r) => (r.ok && (r.headers.get("content-type") || "").startsWith("text/html") ? r.text() : null))
        .then((text) => (text ? new DOMParser().parseFromString(text, "text/html") : null))
        .catch(() => null);
      pages.set(url, request);
      request.then((doc) => { if (!doc) pages.delete(url); });
      if (pages.size > 12) pages.delete(pages.keys().next().value);  // keep memory flat on long walks
    }
    return pages.get(url);
  }

  // Scripts and stylesheets the next photo needs that this page has not loaded yet (a map, the face boxes).
  function loadAssets(doc) {
    const waits = [];
    for (const el of doc.querySelectorAll("head link[rel=stylesheet], script[src]")) {
      const attr = el.tagName === "LINK" ? "href" : "src";
      const value = el.getAttribute(attr);
      if (document.querySelector(`${el.tagName.toLowerCase()}[${attr}="${CSS.escape(value)}"]`)) continue;
      const copy = document.createElement(el.tagName.toLowerCase());
      if (el.tagName === "LINK") { copy.rel = "stylesheet"; copy.href = value; document.head.append(copy); continue; }
      copy.src = value;
      waits.push(new Promise((resolve) => { copy.onload = resolve; copy.onerror = resolve; }));
      document.body.append(copy);
    }
    return Promise.all(waits);
  }

  async function go(url, push) {
    const doc = await fetchPage(url);
    const fresh = doc && doc.querySelector(".viewer");
    if (!fresh) { location.href = url; return; }  // an error page, a login: let the browser show it
    await loadAssets(doc);
    const video = viewer.querySelector("video");
    if (video) video.pause();
    viewer.replaceWith(document.adoptNode(fresh));
    viewer = fresh;
    document.title = doc.title;
    if (push) history.pushState({ photo: true }, "", url);
    setup();
    document.dispatchEvent(new CustomEvent("photoshelf:photo"));  // people.js and share.js bind the new page
  }

  function step(which) {
    const href = viewer.dataset[which];
    if (href) go(href, true);
  }

  // --- zoom ---
  function rotation() {
    const m = /\brot(\d+)\b/.exec(stage.className);
    return m ? parseInt(m[1], 10) : 0;
  }
  function apply() {
    if (!img) return;
    const turn = rotation();
    img.style.transform = zoom.s === 1 ? "" :
      `translate(${zoom.x}px, ${zoom.y}px) scale(${zoom.s})${turn ? ` rotate(${turn}deg)` : ""}`;
    stage.classList.toggle("zoomed", zoom.s > 1);
    if (zoom.s >= ORIGINAL_AT && img.dataset.original && !img.dataset.upgraded) {
      img.dataset.upgraded = "1";
      const full = new Image();
      full.onload = () => { if (img && img.dataset.original === full.dataset.for) img.src = full.src; };
      full.dataset.for = img.dataset.original;
      full.src = img.dataset.original;
    }
  }
  // Zoom by `factor` keeping the point (cx, cy), in pixels from the stage's centre, where it is.
  function zoomAt(factor, cx = 0, cy = 0) {
    const s = Math.min(MAX_ZOOM, Math.max(1, zoom.s * factor));
    const k = s / zoom.s;
    zoom = s === 1 ? { s: 1, x: 0, y: 0 } : { s, x: cx - (cx - zoom.x) * k, y: cy - (cy - zoom.y) * k };
    apply();
  }
  function fromCentre(clientX, clientY) {
    const r = stage.getBoundingClientRect();
    return [clientX - r.left - r.width / 2, clientY - r.top - r.height / 2];
  }
  function resetZoom() { zoom = { s: 1, x: 0, y: 0 }; apply(); }

  // --- one photo's page: called at load and after each step ---
  function setup() {
    stage = document.getElementById("stage");
    img = document.getElementById("photo");
    zoom = { s: 1, x: 0, y: 0 };
    if (img && img.dataset.preview) {
      // The preview replaces the fit once both have loaded (changing src earlier would cancel the fit's request).
      const shown = img, large = new Image();
      const swap = () => { if (shown.isConnected && !shown.dataset.upgraded) shown.src = large.src; };
      large.onload = () => { if (shown.complete) swap(); else shown.addEventListener("load", swap, { once: true }); };
      large.src = img.dataset.preview;
    }
    for (const which of ["next", "prev"]) {
      const href = viewer.dataset[which];
      if (!href) continue;
      fetchPage(href).then((doc) => {
        const next = doc && doc.querySelector("#photo");
        if (next && next.dataset.preview && which === "next") new Image().src = next.dataset.preview;
      });
    }
    motion();
    minimap();
  }

  // A Live Photo: its motion plays over the still while pointed at (or pressed on a phone).
  function motion() {
    const src = stage && stage.dataset.motion;
    if (!src || !img) return;
    let clip = null;
    const play = () => {
      if (zoom.s > 1) return;
      if (!clip) {
        clip = document.createElement("video");
        Object.assign(clip, { src, muted: true, playsInline: true, loop: true, className: "motion" });
        clip.setAttribute("aria-hidden", "true");
        stage.append(clip);
      }
      clip.hidden = false;
      clip.currentTime = 0;
      clip.play().catch(() => {});
    };
    const stop = () => { if (clip) { clip.pause(); clip.hidden = true; } };
    stage.addEventListener("pointerenter", (e) => { if (e.pointerType === "mouse") play(); });
    stage.addEventListener("pointerleave", stop);
    let press = null;
    stage.addEventListener("touchstart", () => { press = setTimeout(play, 300); }, { passive: true });
    stage.addEventListener("touchend", () => { clearTimeout(press); stop(); });
    const badge = document.getElementById("livebadge");
    if (badge) {
      badge.addEventListener("focus", play);
      badge.addEventListener("blur", stop);
    }
  }

  function minimap() {
    const mini = document.getElementById("minimap");
    if (!mini || !window.L) return;
    const at = [parseFloat(mini.dataset.lat), parseFloat(mini.dataset.lon)];
    const map = L.map(mini, { zoomControl: false, attributionControl: !!mini.dataset.tiles }).setView(at, 12);
    if (mini.dataset.tiles) L.tileLayer(mini.dataset.tiles, { attribution: mini.dataset.attribution, maxZoom: 19 }).addTo(map);
    L.circleMarker(at, { radius: 8, color: "#fff", weight: 2, fillColor: "#2563eb", fillOpacity: 1 }).addTo(map);
  }

  // --- listeners, once for the document (the page's parts are replaced on each step) ---
  document.addEventListener("click", (event) => {
    const link = event.target.closest(".stage a.nav");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    go(link.href, true);
  });
  window.addEventListener("popstate", () => {
    if (document.querySelector(".viewer")) go(location.href, false);
  });

  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select") || event.metaKey || event.ctrlKey || event.altKey) return;
    const click = (id) => { const el = document.getElementById(id); if (el) el.click(); };
    const edit = (id) => { if (CAN_EDIT) click(id); };  // viewers and public visitors change nothing (app.js)
    switch (event.key) {
      case "ArrowLeft": step("prev"); break;
      case "ArrowRight": step("next"); break;
      case "Escape": if (zoom.s > 1) resetZoom(); else location.href = viewer.dataset.back; break;
      case "+": case "=": if (img) zoomAt(1.5); break;
      case "-": if (img) zoomAt(1 / 1.5); break;
      case "0": resetZoom(); break;
      case "f": edit("fav"); break;
      case "r": edit("rotr"); break;
      case "l": edit("rotl"); break;
      case "d": click("download"); break;
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("wheel", (event) => {
    if (!img || !event.target.closest("#stage") || event.target.closest("video")) return;
    event.preventDefault();
    zoomAt(Math.exp(-event.deltaY * 0.002), ...fromCentre(event.clientX, event.clientY));
  }, { passive: false });
  document.addEventListener("dblclick", (event) => {
    if (!img || event.target !== img) return;
    if (zoom.s > 1) resetZoom(); else zoomAt(2.5, ...fromCentre(event.clientX, event.clientY));
  });

  // A swipe (one finger, not zoomed) steps to a neighbour.
  let swipe = null;
  document.addEventListener("touchstart", (e) => {
    swipe = e.touches.length === 1 && zoom.s === 1 && e.target.closest("#stage") && !e.target.closest("video")
      ? [e.touches[0].clientX, e.touches[0].clientY] : null;
  }, { passive: true });
  document.addEventListener("touchend", (e) => {
    if (!swipe || zoom.s !== 1) { swipe = null; return; }
    const dx = e.changedTouches[0].clientX - swipe[0], dy = e.changedTouches[0].clientY - swipe[1];
    swipe = null;
    if (Math.abs(dx) >= 50 && Math.abs(dx) >= Math.abs(dy) * 1.5) step(dx > 0 ? "prev" : "next");
  });

  // Pointers: one drags a zoomed picture; two pinch.
  const pointers = new Map();
  let pinch = null;
  document.addEventListener("pointerdown", (event) => {
    if (!img || !event.target.closest("#stage") || event.target.closest("a, button, video")) return;
    pointers.set(event.pointerId, [event.clientX, event.clientY]);
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinch = { d: Math.hypot(a[0] - b[0], a[1] - b[1]), s: zoom.s };
      swipe = null;
    }
  });
  document.addEventListener("pointermove", (event) => {
    const last = pointers.get(event.pointerId);
    if (!last) return;
    pointers.set(event.pointerId, [event.clientX, event.clientY]);
    if (pinch && pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      const d = Math.hypot(a[0] - b[0], a[1] - b[1]);
      zoomAt((pinch.s * d / pinch.d) / zoom.s, ...fromCentre((a[0] + b[0]) / 2, (a[1] + b[1]) / 2));
    } else if (zoom.s > 1 && pointers.size === 1) {
      zoom.x += event.clientX - last[0];
      zoom.y += event.clientY - last[1];
      apply();
    }
  });
  function release(event) {
    if (!pointers.delete(event.pointerId)) return;
    if (pointers.size < 2) pinch = null;
  }
  document.addEventListener("pointerup", release);
  document.addEventListener("pointercancel", release);

  history.replaceState({ photo: true }, "", location.href);
  setup();
})();
