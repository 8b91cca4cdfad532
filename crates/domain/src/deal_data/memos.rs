//! Memos (deal books): the records and the parameters of the memo list and read.

use serde::Serialize;

use crate::error::ApiError;
use crate::query::{PlainParams, clamped_limit, cut, enum_param, parse_digits, positive_param, search_param};

use super::{MAX_TITLE, MEMO_QUALITIES, MEMO_STATUSES, MEMO_TYPES, PDF_COMPLETED, VaultRef};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MemoAuthor {
    pub id: Option<i64>,
    pub name: Option<String>,
}

/// `DealMemo`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealMemo {
    pub uuid: Option<String>,
    pub title: Option<String>,
    pub memo_type: Option<String>,
    pub status: Option<String>,
    pub published_at: Option<String>,
    pub updated_at: Option<String>,
    pub created_by: Option<MemoAuthor>,
    pub pdf_generation_status: Option<String>,
    pub pdf_ready: Option<bool>,
    pub memo_url: Option<String>,
    pub vaults: Vec<VaultRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MemoPdfVersion {
    pub quality: Option<String>,
    pub status: Option<String>,
    pub pdf_url: Option<String>,
}

/// `DealMemoDetail`: every `DealMemo` member plus the PDF links.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealMemoDetail {
    #[serde(flatten)]
    pub memo: DealMemo,
    pub pdf_url: Option<String>,
    pub pdf_versions: Vec<MemoPdfVersion>,
}

/// A memo as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoRecord {
    pub id: i64,
    pub uuid: String,
    pub deal_id: i64,
    pub title: String,
    pub memo_type: String,
    pub status: String,
    pub body: String,
    pub published_at: Option<String>,
    pub updated_at: String,
    pub created_by_user_id: Option<i64>,
    pub created_by_name: Option<String>,
    pub pdf_generation_status: String,
    pub pdf_content_id: Option<String>,
    pub vaults: Vec<VaultRef>,
}

impl MemoRecord {
    pub fn pdf_ready(&self) -> bool {
        self.pdf_generation_status == PDF_COMPLETED
    }

    /// The memo as listed; `memo_url` is its detail route on the API.
    pub fn to_memo(&self, api_base: &str) -> DealMemo {
        DealMemo {
            uuid: Some(self.uuid.clone()),
            title: Some(self.title.clone()),
            memo_type: Some(self.memo_type.clone()),
            status: Some(self.status.clone()),
            published_at: self.published_at.clone(),
            updated_at: Some(self.updated_at.clone()),
            created_by: Some(MemoAuthor { id: self.created_by_user_id, name: self.created_by_name.clone() }),
            pdf_generation_status: Some(self.pdf_generation_status.clone()),
            pdf_ready: Some(self.pdf_ready()),
            memo_url: Some(format!("{api_base}/deals/{}/memos/{}", self.deal_id, self.uuid)),
            vaults: self.vaults.clone(),
        }
    }
}

/// A memo to store (demo data, tests).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMemo {
    pub uuid: String,
    pub title: String,
    pub memo_type: &'static str,
    pub status: &'static str,
    pub body: String,
    pub created_by_user_id: Option<i64>,
    pub vault_ids: Vec<i64>,
}

/// `quality` of a memo detail request: `original` when absent; anything else is a 400.
pub fn parse_memo_quality(raw_query: Option<&str>) -> Result<&'static str, ApiError> {
    let params = PlainParams::parse(raw_query)?;
    match params.get("quality") {
        None => Ok("original"),
        Some(q) => MEMO_QUALITIES.iter().copied().find(|a| *a == q).ok_or_else(|| {
            let shown: String = q.chars().take(64).collect();
            ApiError::bad_request(format!("Invalid quality: {shown}. Allowed: original, high, medium, low"))
        }),
    }
}

/// `GET /deals/{deal_id}/memos` parameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemoQuery {
    pub limit: u32,
    pub offset: u64,
    pub search: Option<String>,
    pub title: Option<String>,
    pub status: Option<&'static str>,
    pub memo_type: Option<&'static str>,
    pub pdf_ready: Option<bool>,
    pub vault_id: Option<i64>,
}

const MEMO_FILTERS: &[&str] = &["title", "status", "memo_type", "pdf_ready"];

pub fn parse_memo_query(raw_query: Option<&str>) -> Result<MemoQuery, ApiError> {
    let params = PlainParams::parse(raw_query)?;
    let mut q = MemoQuery { limit: 50, ..MemoQuery::default() };
    for (key, value) in &params.pairs {
        match key.as_str() {
            "limit" => q.limit = clamped_limit(value)?,
            "offset" => {
                q.offset = parse_digits(value)
                    .ok_or_else(|| ApiError::invalid_field("offset", "must be an integer greater than or equal to 0"))?
            }
            "search" => q.search = search_param("search", value)?,
            "vault_id" => q.vault_id = Some(positive_param("vault_id", value)?),
            "filter[title]" => {
                if value.chars().count() > MAX_TITLE {
                    return Err(ApiError::invalid_field(key, format!("must be at most {MAX_TITLE} characters")));
                }
                q.title = Some(value.clone());
            }
            "filter[status]" => q.status = Some(enum_param(key, value, MEMO_STATUSES)?),
            "filter[memo_type]" => q.memo_type = Some(enum_param(key, value, MEMO_TYPES)?),
            "filter[pdf_ready]" => {
                q.pdf_ready = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::invalid_field(key, "must be true or false")),
                })
            }
            k if k == "filter" || k.starts_with("filter[") => {
                return Err(ApiError::invalid_field(k, "is not a supported filter")
                    .with_detail("parameter", cut(k))
                    .with_detail("allowed", MEMO_FILTERS.iter().map(|f| format!("filter[{f}]")).collect::<Vec<_>>()));
            }
            _ => {}
        }
    }
    Ok(q)
}
