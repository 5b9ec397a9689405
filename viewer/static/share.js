// The "Share" dialog of the album and photo pages: makes a link (POST /api/v1/shares, with the page's CSRF
// token), then shows it with a copy button. Without JavaScript the button does nothing; the API stays.
"use strict";

// photo.js swaps in the next photo's page without a reload ("photoshelf:photo"): its button is bound then.
document.addEventListener("photoshelf:photo", shareDialog);
shareDialog();
function shareDialog() {
  const open = document.querySelector(".share-open");
  const dialog = document.getElementById("sharedialog");
  if (!open || !dialog) return;
  const form = dialog.querySelector("form");
  const result = dialog.querySelector(".shareresult");
  const url = dialog.querySelector(".shareurl");
  const error = dialog.querySelector(".shareerror");
  const create = dialog.querySelector(".share-create");
  const token = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  open.addEventListener("click", () => {
    result.hidden = true; error.hidden = true; create.disabled = false; create.hidden = false;
    if (dialog.showModal) dialog.showModal(); else dialog.setAttribute("open", "");
  });
  dialog.querySelector(".share-close").addEventListener("click", () => dialog.close());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const days = form.elements.expires_days.value;
    const body = {
      [open.dataset.shareKind]: open.dataset.shareKind === "photo" ? Number(open.dataset.shareRef) : open.dataset.shareRef,
      expires_days: days ? Number(days) : null,
      password: form.elements.password.value || null,
      download: form.elements.download.checked,
    };
    create.disabled = true;
    try {
      const response = await fetch(appUrl("/api/v1/shares"), {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
        body: JSON.stringify(body),
      });
      const data = await response.json();
      if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
      url.value = new URL(data.url, location.href).href;
      dialog.querySelector(".shareexp").textContent = data.expires_at
        ? `Works until ${new Date(data.expires_at).toLocaleString()}.` : "Works until revoked (on the admin page).";
      result.hidden = false;
      create.hidden = true;
      url.select();
    } catch (err) {
      error.textContent = `Could not make the link: ${err.message}`;
      error.hidden = false;
      create.disabled = false;
    }
  });

  dialog.querySelector(".share-copy").addEventListener("click", async (event) => {
    try {
      await navigator.clipboard.writeText(url.value);
    } catch (err) {
      url.select();
      document.execCommand("copy");
    }
    event.target.textContent = "Copied";
  });
}
