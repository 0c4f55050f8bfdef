// Swagger UI over the mock's own description, with the account's headers preset.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var ui = window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: true,
    onComplete: function () {
      ui.preauthorizeApiKey("ApiKey", root.dataset.key);
      ui.preauthorizeApiKey("ApiSecret", root.dataset.secret);
    },
  });
  window.envoiceDocs = ui;
})();
