//! `GET /openapi.json` (levd's OpenAPI 3.1 document) and the `/docs` page that renders it.
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::envelope::Rendered;

/// The raw document (not wrapped in the envelope: tools read it as OpenAPI).
pub async fn openapi() -> Response {
    let body = serde_json::to_vec(crate::openapi::document()).unwrap_or_default();
    let mut r = ([(CONTENT_TYPE, "application/json")], body).into_response();
    r.extensions_mut().insert(Rendered);
    r
}

/// The reference page: one self-contained HTML file, no outside assets.
pub async fn docs_page() -> Response {
    let mut r = (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
            (CONTENT_SECURITY_POLICY, "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"),
        ],
        DOCS_HTML,
    )
        .into_response();
    r.extensions_mut().insert(Rendered);
    r
}

const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>levd API reference</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d2733; background: #f7f8fa; }
  header { background: #14324f; color: #fff; padding: 1rem 2rem; }
  header h1 { margin: 0; font-size: 1.3rem; }
  main { max-width: 1100px; margin: 0 auto; padding: 1rem 2rem 3rem; }
  input { width: 100%; padding: .5rem; font-size: 1rem; margin: 1rem 0; box-sizing: border-box; }
  section h2 { text-transform: capitalize; border-bottom: 1px solid #cfd6de; padding-bottom: .2rem; }
  details.op { background: #fff; border: 1px solid #dde3ea; border-radius: 6px; margin: .4rem 0; }
  details.op summary { cursor: pointer; padding: .5rem .8rem; display: flex; gap: .8rem; align-items: baseline; }
  .m { font: bold 12px monospace; padding: 2px 6px; border-radius: 4px; color: #fff; min-width: 52px; text-align: center; }
  .get { background: #2f7d4f; } .post { background: #2558a8; } .patch { background: #9a6a00; } .delete { background: #a8323a; }
  code.p { font-size: 14px; }
  .body { padding: 0 1rem 1rem; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; }
  td, th { border-top: 1px solid #e6eaef; padding: .25rem .4rem; text-align: left; vertical-align: top; }
  .muted { color: #5d6b7a; }
</style>
</head>
<body>
<header><h1>levd — Lev External API v2</h1><div class="muted" id="meta">Loading the OpenAPI document…</div></header>
<main>
<label for="q">Filter operations</label>
<input id="q" type="search" placeholder="path, method, operation id or summary" autocomplete="off">
<div id="ops" aria-live="polite"></div>
</main>
<script>
(async function () {
  const out = document.getElementById('ops');
  const meta = document.getElementById('meta');
  let doc;
  try {
    const r = await fetch('/api/external/v2/openapi.json');
    doc = await r.json();
  } catch (e) {
    meta.textContent = 'Could not load /api/external/v2/openapi.json: ' + e;
    return;
  }
  const esc = s => String(s ?? '').replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
  const refName = s => s && s.$ref ? s.$ref.split('/').pop() : null;
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) ops.push({ path, method, op });
  }
  meta.textContent = `${doc.info.title} · version ${doc.info.version} · ${ops.length} operations`;
  const groups = {};
  for (const o of ops) (groups[(o.op.tags || ['other'])[0]] ||= []).push(o);
  let html = '';
  for (const [tag, list] of Object.entries(groups)) {
    html += `<section><h2>${esc(tag)}</h2>`;
    for (const { path, method, op } of list) {
      const params = (op.parameters || []).map(p =>
        `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? 'yes' : ''}</td><td>${esc(p.description)}</td></tr>`).join('');
      const responses = Object.entries(op.responses || {}).map(([code, r]) => {
        const schema = r.content?.['application/json']?.schema;
        const data = schema?.properties?.data;
        const name = refName(data) || refName(data?.items) || refName(schema) || '';
        return `<tr><td>${esc(code)}</td><td>${esc(r.description)}</td><td>${esc(name)}</td></tr>`;
      }).join('');
      html += `<details class="op" data-text="${esc((method + ' ' + path + ' ' + op.operationId + ' ' + op.summary).toLowerCase())}">
        <summary><span class="m ${method}">${method.toUpperCase()}</span><code class="p">${esc(path)}</code>
        <span class="muted">${esc(op.summary)}</span></summary>
        <div class="body"><p class="muted">operationId <code>${esc(op.operationId)}</code>. ${esc(op.description || '')}</p>
        <table><tr><th>Parameter</th><th>In</th><th>Required</th><th></th></tr>${params}</table>
        <p></p><table><tr><th>Status</th><th>Meaning</th><th>Schema</th></tr>${responses}</table></div></details>`;
    }
    html += '</section>';
  }
  out.innerHTML = html;
  document.getElementById('q').addEventListener('input', e => {
    const q = e.target.value.toLowerCase();
    for (const d of out.querySelectorAll('details.op')) d.style.display = d.dataset.text.includes(q) ? '' : 'none';
  });
})();
</script>
</body>
</html>
"#;
