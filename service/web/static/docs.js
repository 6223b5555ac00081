// /docs: Swagger UI over this node's /openapi.json. A file, not an inline script, so the
// page keeps the same Content-Security-Policy as the others.
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // No call to the public validator service: the page talks only to this node.
  validatorUrl: null,
});
