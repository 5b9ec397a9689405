// The home page's memories (on this day, trips, people's recent photos): fetched after the timeline's first
// page as a server-rendered fragment (GET /memories) and put between the page head and the timeline. Nothing
// is shown when there are none, and the timeline never waits for them.
"use strict";

(async function memories() {
  const head = document.querySelector("main .pagehead");
  if (!head || !document.getElementById("timeline") || location.search) return;
  try {
    const response = await fetch(appUrl("/memories"), { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const template = document.createElement("template");
    template.innerHTML = (await response.text()).trim();
    const section = template.content.querySelector(".memories");
    if (section) head.after(section);
  } catch (err) {
    console.info("photoshelf: no memories", err);
  }
})();
