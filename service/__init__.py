"""The HTTP skeleton the scoring facade and the drift sidecar share: one way to build a service.

- ``service.app``: ``create_service_app`` builds the FastAPI app with everything below installed the
  same way in both;
- ``service.errors``: the one exception handler set (domain errors of ``core.errors``, validation,
  framework 404/405, client disconnects, crashes) rendering ``{"error", "message", "detail"}``;
- ``service.edge``: pure ASGI middleware at the edge: timing, API key, body size while reading,
  JSON-only bodies;
- ``service.auth``: the API key (constant-time compare) and who counts as trusted;
- ``service.json_body``: JSON bodies parsed from bytes, duplicate keys refused;
- ``service.health``: ``/health/live`` and ``/health/ready`` with one shape, and the readiness hook;
- ``service.metrics``: HTTP metrics and ``/metrics``; ``service.telemetry``: Azure Monitor once;
- ``service.settings``: the settings fields both services share (model source, edge, telemetry).

FastAPI lives here and nowhere in ``core``; the Function does not import this package.
"""
