-- One MCP tool call per request: tools/call list_deals (50 deals), protocol 2025-11-25,
-- stateless JSON answers. Compared with GET /deals?limit=50, which runs the same service call.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_deals","arguments":{"limit":50}}}'
