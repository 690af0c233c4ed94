"""What each endpoint does, for the HTTP API (callreport/http/) and the console alike: (ctx, params) -> dict."""
