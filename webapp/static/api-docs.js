// Starts Swagger UI on /api/v1/docs. A file of its own, not an inline script: the site's
// Content-Security-Policy allows scripts from the site only.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
  });
});
