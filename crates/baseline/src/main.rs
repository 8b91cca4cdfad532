//! `levd-baseline`: what this machine serves when a request costs nothing but HTTP. It answers
//! `GET PATH` with the bytes of a file captured from levd (`PATH=FILE`, repeatable), as
//! `application/json`, from memory, with axum on a multi-threaded tokio runtime — the same stack
//! levd runs on, without levd. `bench/compare.sh` starts it beside levd and reports levd's
//! throughput as a ratio of it.
//!
//! ```text
//! levd-baseline --bind 127.0.0.1:0 /api/external/v2/me=me.json /api/external/v2/deals=deals.json
//! ```
use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;

fn usage() -> ! {
    eprintln!("usage: levd-baseline [--bind ADDR] PATH=FILE...");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut bind = "127.0.0.1:0".to_string();
    let mut routes = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--bind" {
            bind = args.next().unwrap_or_else(|| usage());
            continue;
        }
        let Some((path, file)) = a.split_once('=') else { usage() };
        match std::fs::read(file) {
            Ok(bytes) => routes.push((path.to_string(), Bytes::from(bytes))),
            Err(e) => {
                eprintln!("cannot read {file}: {e}");
                std::process::exit(1)
            }
        }
    }
    if routes.is_empty() {
        usage()
    }
    let mut app = Router::new();
    for (path, body) in routes {
        app = app.route(&path, get(move || async move { ([(CONTENT_TYPE, "application/json")], body) }));
    }
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot bind {bind}: {e}");
            std::process::exit(1)
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!("listening on http://{addr}");
    }
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("server error: {e}");
        std::process::exit(1)
    }
}
