//! The HTML of the sign-in flow: self-contained (no external assets), escaped, keyboard-usable
//! (native form controls, labels, visible focus), never cached, never framed.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use levd_store::MembershipRow;

use crate::authorize::AuthRequest;

/// What every form of one interaction carries.
pub struct Page<'a> {
    pub handle: &'a str,
    pub csrf: &'a str,
    pub request: &'a AuthRequest,
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1b1f24;margin:0}\
main{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}\
h1{font-size:1.4rem;margin:0 0 1rem}label{display:block;margin:1rem 0 .25rem;font-weight:600}\
input[type=email],input[type=password],select{width:100%;box-sizing:border-box;padding:.6rem;font:inherit;border:1px solid #8a94a0;border-radius:4px}\
button{margin-top:1.5rem;padding:.6rem 1.2rem;font:inherit;border-radius:4px;border:1px solid #1f4fd1;background:#1f4fd1;color:#fff;cursor:pointer}\
button.secondary{background:#fff;color:#1f4fd1;margin-left:.5rem}\
:focus-visible{outline:3px solid #f0a400;outline-offset:2px}\
.alert{background:#fdecea;border:1px solid #e0a39c;padding:.6rem;border-radius:4px}\
.muted{color:#4d5660;font-size:.9rem}code{word-break:break-all}";

fn html(status: StatusCode, title: &str, body: &str, script_nonce: Option<&str>) -> Response {
    let doc = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\"><title>{}</title><style>{STYLE}</style></head>\
<body><main>{body}</main></body></html>",
        escape(title)
    );
    let mut r = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], doc).into_response();
    let script = script_nonce.map(|n| format!(" script-src 'nonce-{n}';")).unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline';{script} img-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    );
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    crate::no_store(&mut r);
    r
}

fn client_label(r: &AuthRequest) -> String {
    let host = url::Url::parse(&r.redirect_uri).ok().and_then(|u| u.host_str().map(str::to_owned));
    match (&r.client_name, host) {
        (Some(name), Some(host)) => {
            format!("<strong>{}</strong> <span class=\"muted\">({})</span>", escape(name), escape(&host))
        }
        (Some(name), None) => format!("<strong>{}</strong>", escape(name)),
        (None, Some(host)) => format!("An application at <strong>{}</strong>", escape(&host)),
        (None, None) => "An application".to_owned(),
    }
}

fn hidden(p: &Page<'_>) -> String {
    format!(
        "<input type=\"hidden\" name=\"interaction\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(p.handle),
        escape(p.csrf)
    )
}

pub fn sign_in(p: &Page<'_>, problem: Option<&str>, status: StatusCode) -> Response {
    let alert = problem.map(|m| format!("<p class=\"alert\" role=\"alert\">{}</p>", escape(m))).unwrap_or_default();
    let body = format!(
        "<h1>Sign in to levd</h1>\
<p>{} wants to use levd on your behalf.</p>{alert}\
<form method=\"post\" action=\"/authorize/sign-in\">{}\
<label for=\"email\">E-mail address</label>\
<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus>\
<label for=\"password\">Password</label>\
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Sign in</button></form>\
<p class=\"muted\">Only continue if you started this from the application named above.</p>",
        client_label(p.request),
        hidden(p)
    );
    html(status, "Sign in to levd", &body, None)
}

pub fn consent(p: &Page<'_>, email: &str, memberships: &[MembershipRow], preferred: Option<i64>) -> Response {
    let selected = preferred.filter(|id| memberships.iter().any(|m| m.account_id == *id));
    let options: String = memberships
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let sel = if selected.map_or(i == 0, |id| id == m.account_id) { " selected" } else { "" };
            format!(
                "<option value=\"{}\"{sel}>{} ({})</option>",
                escape(&m.slug),
                escape(&m.name),
                escape(m.role().as_str())
            )
        })
        .collect();
    let scopes = p.request.scope.split(' ').map(escape).collect::<Vec<_>>().join(", ");
    let body = format!(
        "<h1>Allow access?</h1>\
<p>{} will act as <strong>{}</strong> in the account chosen below, with your current permissions there, until you revoke it.</p>\
<form method=\"post\" action=\"/authorize/consent\">{}\
<label for=\"account\">Account it will act for</label>\
<select id=\"account\" name=\"account\" autofocus>{options}</select>\
<p class=\"muted\">Identity scopes: {scopes}. Resource: <code>{}</code></p>\
<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></form>",
        client_label(p.request),
        escape(email),
        hidden(p),
        escape(&p.request.audience)
    );
    html(StatusCode::OK, "Allow access", &body, None)
}

pub fn error(status: StatusCode, message: &str) -> Response {
    let body = format!("<h1>Sign-in problem</h1><p class=\"alert\" role=\"alert\">{}</p>", escape(message));
    html(status, "Sign-in problem", &body, None)
}

/// `response_mode=form_post`: a page that posts the parameters to the client at once (with a
/// button for browsers that run no script).
pub fn form_post(action: &str, params: &[(&str, &str)]) -> Response {
    let nonce = &crate::random_token()[..22];
    let fields: String = params
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(k), escape(v)))
        .collect();
    let body = format!(
        "<h1>Returning to the application…</h1><form method=\"post\" action=\"{}\">{fields}\
<button type=\"submit\">Continue</button></form>\
<script nonce=\"{nonce}\">document.forms[0].submit()</script>",
        escape(action)
    );
    html(StatusCode::OK, "Returning to the application", &body, Some(nonce))
}
