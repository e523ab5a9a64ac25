// The result toggle: show one model's tags, or every model's side by side, without
// sending the question again. Without JavaScript every panel simply shows.
(function () {
  "use strict";
  document.documentElement.classList.replace("no-js", "js");

  function show(results, view) {
    results.setAttribute("data-view", view);
    results.querySelectorAll(".toggle-button").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-view") === view));
    });
    results.querySelectorAll(".panel").forEach(function (panel) {
      panel.classList.toggle("is-hidden", view !== "both" && panel.getAttribute("data-model") !== view);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".results").forEach(function (results) {
      results.querySelectorAll(".toggle-button").forEach(function (button) {
        button.addEventListener("click", function () {
          var view = button.getAttribute("data-view");
          show(results, view);
          // Keep the choice in the address, so reload and back show the same view.
          var url = new URL(window.location.href);
          url.searchParams.set("view", view);
          url.searchParams.delete("asked");
          url.searchParams.delete("reviewed");
          window.history.replaceState(null, "", url);
        });
      });
    });
  });
})();
