// People: the person page's forms run through the JSON API without reloading the page (they still work as
// plain forms without this), and the photo page draws each face's box over the picture.
"use strict";

(function peopleForms() {
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
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
        const result = await post(`/api/v1/people/${uid}/merge`, { into: form.elements.into.value });
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

// Face boxes on the photo page: the boxes are fractions of the upright picture; the user's rotation turns
// them with it. They are placed over the picture as drawn (object-fit: contain) and follow resizes.
(function faceBoxes() {
  const layer = document.getElementById("faceboxes");
  const img = document.getElementById("photo");
  const stage = document.getElementById("stage");
  if (!layer || !img || !stage) return;
  const rotation = parseInt(layer.dataset.rotation || "0", 10);
  function turn([x, y, w, h]) {
    switch (rotation) {
      case 90: return [1 - y - h, x, h, w];
      case 180: return [1 - x - w, 1 - y - h, w, h];
      case 270: return [y, 1 - x - w, h, w];
      default: return [x, y, w, h];
    }
  }
  function place() {
    const box = img.getBoundingClientRect(), frame = stage.getBoundingClientRect();
    if (!box.width || !box.height) return;
    for (const el of layer.querySelectorAll(".facebox")) {
      const [x, y, w, h] = turn(el.dataset.box.split(",").map(Number));
      el.style.left = `${box.left - frame.left + x * box.width}px`;
      el.style.top = `${box.top - frame.top + y * box.height}px`;
      el.style.width = `${w * box.width}px`;
      el.style.height = `${h * box.height}px`;
    }
    layer.hidden = false;
  }
  img.addEventListener("load", place);
  img.addEventListener("transitionend", place);
  window.addEventListener("resize", place);
  if (img.complete) place();
  // Pointing at a face in the list lights up its box.
  document.querySelectorAll("[data-face-item]").forEach((item) => {
    const el = layer.querySelector(`[data-face="${item.dataset.faceItem}"]`);
    if (!el) return;
    item.addEventListener("mouseenter", () => el.classList.add("lit"));
    item.addEventListener("mouseleave", () => el.classList.remove("lit"));
  });
})();
