// People: the person page's forms run through the JSON API without reloading the page (they still work as
// plain forms without this), and the photo page draws each face's box over the picture.
"use strict";

(function peopleForms() {
  if (!CAN_EDIT) return;  // viewers and public visitors get no forms to send (app.js)
  // Every write sends the page's CSRF token (viewer/auth.py).
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.matches(".js-person[data-api], .js-person.merge, .js-face")) return;
    if (form.dataset.confirm && !confirm(form.dataset.confirm)) { event.preventDefault(); return; }
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    const uid = form.closest("[data-uid]") ? form.closest("[data-uid]").dataset.uid : null;
    try {
      if (form.matches(".js-person.merge")) {
        const result = await post(appUrl(`/api/v1/people/${uid}/merge`), { into: form.elements.into.value });
        location.href = result.url;
      } else if (form.matches(".js-person")) {
        const result = await post(form.dataset.api, { name: form.elements.name.value });
        if (result.uid !== uid) { location.href = result.url; return; }  // named like someone else: merged
        document.getElementById("person-name").textContent = result.name;
      } else if (form.matches(".move")) {
        const to = form.elements.to.value.trim();
        await post(form.dataset.api, to === "new" ? { person: "new" } : { name: to });
        form.closest("li").remove();
      } else {
        await post(form.dataset.api, { reject: form.elements.person.value || true });
        form.closest("li").remove();
      }
    } catch (err) {
      alert(`Could not do that: ${err.message}`);
    } finally {
      if (button) button.disabled = false;
    }
  });
})();

// Face boxes on the photo page: the boxes are fractions of the upright picture. The picture is drawn inside
// its element with object-fit: contain (letterboxed), and the user's rotation turns the element about its
// centre, so each box is placed in the element's own coordinates and then turned the same way.
// photo.js replaces the page's picture when it steps to the next photo ("photoshelf:photo"): bind that one too.
let placeFaceBoxes = null;
window.addEventListener("resize", () => { if (placeFaceBoxes) placeFaceBoxes(); });
document.addEventListener("photoshelf:photo", () => { placeFaceBoxes = null; faceBoxes(); });
faceBoxes();
function faceBoxes() {
  const layer = document.getElementById("faceboxes");
  const img = document.getElementById("photo");
  const stage = document.getElementById("stage");
  if (!layer || !img || !stage) return;
  const rotation = parseInt(layer.dataset.rotation || "0", 10);
  function turn(dx, dy) {
    switch (rotation) {
      case 90: return [-dy, dx];
      case 180: return [-dx, -dy];
      case 270: return [dy, -dx];
      default: return [dx, dy];
    }
  }
  function place() {
    const W = img.offsetWidth, H = img.offsetHeight, nw = img.naturalWidth, nh = img.naturalHeight;
    if (!W || !H || !nw || !nh) return;
    const scale = Math.min(W / nw, H / nh), dw = nw * scale, dh = nh * scale;
    const ox = (W - dw) / 2, oy = (H - dh) / 2;
    const rect = img.getBoundingClientRect(), frame = stage.getBoundingClientRect();
    const cx = rect.left + rect.width / 2 - frame.left, cy = rect.top + rect.height / 2 - frame.top;
    for (const el of layer.querySelectorAll(".facebox")) {
      const [x, y, w, h] = el.dataset.box.split(",").map(Number);
      const corners = [[x, y], [x + w, y + h]].map(([fx, fy]) => {
        const [tx, ty] = turn(ox + fx * dw - W / 2, oy + fy * dh - H / 2);
        return [cx + tx, cy + ty];
      });
      const left = Math.min(corners[0][0], corners[1][0]), top = Math.min(corners[0][1], corners[1][1]);
      el.style.left = `${left}px`;
      el.style.top = `${top}px`;
      el.style.width = `${Math.abs(corners[1][0] - corners[0][0])}px`;
      el.style.height = `${Math.abs(corners[1][1] - corners[0][1])}px`;
    }
    layer.hidden = false;
  }
  img.addEventListener("load", place);
  img.addEventListener("transitionend", place);
  placeFaceBoxes = place;
  if (img.complete) place();
  // Pointing at a face in the list lights up its box.
  document.querySelectorAll("[data-face-item]").forEach((item) => {
    const el = layer.querySelector(`[data-face="${item.dataset.faceItem}"]`);
    if (!el) return;
    item.addEventListener("mouseenter", () => el.classList.add("lit"));
    item.addEventListener("mouseleave", () => el.classList.remove("lit"));
  });
}
