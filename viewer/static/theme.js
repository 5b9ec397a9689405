// The theme a person chose, set before the first paint: loaded without `defer` in the head (app.js is deferred
// and would flash the other theme). A file rather than inline script: the Content-Security-Policy allows no
// inline script.
"use strict";
try {
  const theme = localStorage.getItem("photoshelf-theme");
  if (theme) document.documentElement.dataset.theme = theme;
} catch (e) { /* storage blocked: the device's theme applies */ }
