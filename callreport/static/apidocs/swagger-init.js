// Starts Swagger UI on this server's OpenAPI document. A file rather than an inline script, so a
// Content-Security-Policy without 'unsafe-inline' still allows it; validatorUrl null keeps the page
// from asking validator.swagger.io (no request leaves the server's own origin).
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
