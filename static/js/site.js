// Small enhancements; every page works without them (issue 12).
"use strict";

// The filter panel is a sidebar on wide screens (open) and a tap-to-open control on phones.
const wide = window.matchMedia("(min-width: 52rem)");

function placeFilterPanels() {
  for (const panel of document.querySelectorAll("details.filter-panel")) {
    panel.classList.add("filter-panel-js");
    panel.open = wide.matches;
  }
}

// A remote image that fails is a visible box naming what it showed, not a bare alt text.
function markMissing(image) {
  const body = image.closest(".notice-body");
  if (!body || image.dataset.missing) {
    return;
  }
  image.dataset.missing = "true";
  const box = document.createElement("span");
  box.className = "image-missing";
  box.textContent = image.getAttribute("alt") || body.dataset.imageMissing || "";
  box.title = body.dataset.imageMissing || "";
  image.hidden = true;
  image.after(box);
}

// `error` does not bubble: listen in the capture phase, and look at images that failed
// before this deferred script ran.
document.addEventListener(
  "error",
  (event) => {
    if (event.target instanceof HTMLImageElement) {
      markMissing(event.target);
    }
  },
  true,
);

document.addEventListener("DOMContentLoaded", () => {
  placeFilterPanels();
  wide.addEventListener("change", placeFilterPanels);
  for (const image of document.querySelectorAll(".notice-body img")) {
    if (image.complete && image.naturalWidth === 0 && image.getAttribute("src")) {
      markMissing(image);
    }
  }
});
