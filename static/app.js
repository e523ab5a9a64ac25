// The result toggle: switch between the baseline's and the transformer's tags, or show
// both, without sending the question again. Without JavaScript both panels simply show.
(function () {
  "use strict";
  document.documentElement.classList.replace("no-js", "js");

  function show(results, view) {
    results.setAttribute("data-view", view);
    results.querySelectorAll(".toggle-button").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-view") === view));
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
