// A batch's page follows its progress: it asks the API every second and reloads the page
// when the job ends (which shows the download link). Without JS the reload link does it.
(function () {
  "use strict";
  var section = document.getElementById("batch");
  if (!section || section.dataset.finished === "yes") return;
  var bar = document.getElementById("batch-bar");
  var count = document.getElementById("batch-count");
  var state = document.getElementById("batch-state");
  var format = new Intl.NumberFormat("en");
  function poll() {
    fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (job) {
          bar.max = job.total;
          bar.value = job.done;
          count.textContent = format.format(job.done) + " of " + format.format(job.total);
          state.textContent = job.status;
          if (job.finished_at) { window.location.reload(); return; }
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
