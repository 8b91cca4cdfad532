//! Deal data: vaults, documents and their signed download links, checklists and checklist
//! tasks, memos (deal books) and the deal index (facts, observations, metric definitions,
//! entities). The records as the API shows them, request parsing for every operation of the
//! domain, the signed-link token format and a small PDF writer for memos. No I/O.
//!
//! One file per part; everything public is re-exported here, so callers name it as
//! `deal_data::<item>`. This file holds the enumerations and bounds the parts share.
mod checklists;
mod documents;
mod index;
mod index_requests;
mod links;
mod memos;
mod pdf;
mod search;

pub use checklists::*;
pub use documents::*;
pub use index::*;
pub use index_requests::*;
pub use links::*;
pub use memos::*;
pub use pdf::*;
pub use search::*;

use std::collections::BTreeMap;

use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------------------------

pub const VAULT_RESOURCES: &str = "resources";
pub const VAULT_SHARED: &str = "shared";

pub const TASK_STATUSES: &[&str] = &["to_do", "requested", "reviewing", "updates_needed", "approved", "cancelled"];
pub const TEAM_TYPES: &[&str] = &["account", "private_company"];
pub const FILE_ORIGINS: &[&str] = &["auto_match", "manually_added"];

pub const MEMO_STATUSES: &[&str] = &["draft", "published"];
pub const MEMO_TYPES: &[&str] = &[
    "debt_financing_om",
    "credit_memo",
    "investment_sales",
    "debt_brokerage",
    "equity_raise",
    "broker_opinion_of_value",
    "investment_committee",
    "invoice",
    "other",
];
pub const MEMO_QUALITIES: &[&str] = &["original", "high", "medium", "low"];
/// `pdf_generation_status` of a memo whose PDF can be served.
pub const PDF_COMPLETED: &str = "completed";

/// Entity kinds facts attach to.
pub const ENTITY_DEAL: &str = "deal";
pub const ENTITY_PROPERTY: &str = "property";
pub const ENTITY_SPONSOR: &str = "sponsor";

/// How a canonical value came to be (`DealIndexFact.origin`).
pub const ORIGIN_EXTRACTED: &str = "extracted";
pub const ORIGIN_USER_INPUT: &str = "user_input";
pub const ORIGIN_MANUAL: &str = "manual";
pub const ORIGIN_PROMOTED: &str = "promoted";

/// Kind of source behind a value (`source.type`, `source_type`).
pub const SOURCE_DOCUMENT: &str = "document";
pub const SOURCE_USER_INPUT: &str = "user_input";
pub const SOURCE_MANUAL: &str = "manual";

/// Weight of a value a user recorded through the API: above any extraction (at most 90), so
/// the promotion rule prefers what a person typed over what a parser read.
pub const USER_INPUT_WEIGHT: i64 = 100;
/// Extractions below this confidence leave the fact flagged `needs_review`.
pub const REVIEW_CONFIDENCE: f64 = 0.75;

// Bounds on inputs that more than one part checks.
const MAX_REF: usize = 64;
const MAX_TITLE: usize = 255;

/// Page-based `pagination` (index observations and metric definitions).
pub fn page_pagination(page: u32, limit: u32, total: i64) -> Value {
    let limit_i = i64::from(limit.max(1));
    let pages = (total + limit_i - 1) / limit_i;
    serde_json::json!({
        "page": page,
        "limit": limit,
        "total": total,
        "total_pages": pages,
        "has_more": i64::from(page) < pages,
    })
}

/// `pagination` of the lists that return everything at once.
pub fn whole_list_pagination(total: usize) -> Value {
    serde_json::json!({ "total": total, "has_more": false })
}

/// Groups rows by a key, keeping their order (used to attach child rows to parents).
pub fn group_by<K: Ord, V>(rows: Vec<V>, key: impl Fn(&V) -> K) -> BTreeMap<K, Vec<V>> {
    let mut out: BTreeMap<K, Vec<V>> = BTreeMap::new();
    for r in rows {
        out.entry(key(&r)).or_default().push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parameters() {
        let q = parse_document_query(Some("limit=900&extension=.PDF&fields=file_name")).unwrap();
        assert_eq!((q.limit, q.extension.as_deref()), (200, Some("pdf")));
        assert_eq!(q.fields.unwrap(), ["id", "vault", "file_name"]);
        assert_eq!(parse_document_query(Some("limit=0")).unwrap().limit, 1);
        let e = parse_document_query(Some("limit=ten")).unwrap_err();
        assert_eq!((e.status(), e.message.as_str()), (422, "limit must be an integer"));
        let e = parse_document_query(Some("filter[extension]=pdf")).unwrap_err();
        assert_eq!(e.message, "This endpoint does not accept filter parameters");
        assert_eq!(parse_document_query(Some("fields=nope")).unwrap_err().status(), 422);
        assert_eq!(parse_document_query(Some("cursor=zzz")).unwrap_err().status(), 400);
        assert_eq!(parse_document_query(Some("limit=1&limit=2")).unwrap_err().status(), 400);

        let m = parse_memo_query(Some("filter[status]=draft&filter[pdf_ready]=false&offset=5")).unwrap();
        assert_eq!((m.status, m.pdf_ready, m.offset, m.limit), (Some("draft"), Some(false), 5, 50));
        assert_eq!(parse_memo_query(Some("filter[status]=final")).unwrap_err().status(), 422);
        assert_eq!(parse_memo_query(Some("filter[owner]=x")).unwrap_err().status(), 422);
        assert_eq!(parse_memo_query(Some("offset=-1")).unwrap_err().status(), 422);

        assert_eq!(parse_memo_quality(None).unwrap(), "original");
        let e = parse_memo_quality(Some("quality=bogus")).unwrap_err();
        assert_eq!(
            (e.status(), e.message.as_str()),
            (400, "Invalid quality: bogus. Allowed: original, high, medium, low")
        );

        let mq = parse_metric_query(Some("metric_label=noi&limit=1000&page=2")).unwrap();
        assert_eq!((mq.limit, mq.page, mq.metric_label.as_deref()), (200, 2, Some("noi")));
        assert_eq!(parse_metric_query(None).unwrap().limit, 100);
        assert_eq!(parse_metric_query(Some("category_id=0")).unwrap_err().status(), 422);
        assert_eq!(parse_metric_query(Some("page=0")).unwrap_err().status(), 422);
    }
}
