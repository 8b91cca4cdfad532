//! Vaults and documents: the records, file names and folders, content addressing, and the
//! parameters of the document list and read.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorKind};
use crate::query::{PlainParams, clamped_limit, cut, decode_cursor, positive_param, search_param};

/// Longest file name accepted by `levd admin document add`.
pub const MAX_FILE_NAME: usize = 255;
/// Largest file accepted by `levd admin document add` (downloads are read into memory).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Compact vault reference: `VaultTag`, `DocumentVaultRef` and `ChecklistVaultRef` share it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VaultRef {
    pub id: i64,
    #[serde(rename = "type")]
    pub vault_type: String,
    pub title: Option<String>,
}

/// `Vault`, as listed for a deal.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Vault {
    pub id: i64,
    #[serde(rename = "type")]
    pub vault_type: String,
    pub title: Option<String>,
    pub is_default: bool,
    pub document_count: i64,
}

impl Vault {
    pub fn reference(&self) -> VaultRef {
        VaultRef { id: self.id, vault_type: self.vault_type.clone(), title: self.title.clone() }
    }
}

/// `DealDocument`. The content id (the file's name in the data directory) never leaves the
/// server.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealDocument {
    pub id: i64,
    pub file_name: Option<String>,
    pub extension: Option<String>,
    pub size_bytes: Option<i64>,
    pub folder_path: Option<String>,
    pub uploaded_at: Option<String>,
    pub vault: VaultRef,
    #[serde(skip)]
    pub deal_id: i64,
    #[serde(skip)]
    pub content_id: Option<String>,
    #[serde(skip)]
    pub document_type: Option<String>,
}

pub const DOCUMENT_FIELDS: &[&str] =
    &["id", "file_name", "extension", "size_bytes", "folder_path", "uploaded_at", "vault"];

/// `DealDocumentDownload`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealDocumentDownload {
    pub file_name: Option<String>,
    pub download_url: String,
    pub expires_in: u64,
}

/// A document to add (admin command, demo data).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    pub file_name: String,
    pub extension: Option<String>,
    pub size_bytes: i64,
    pub folder_path: Option<String>,
    pub content_id: String,
    pub document_type_id: Option<i64>,
}

/// The extension of a file name, lower case, without the dot; `None` when there is none.
pub fn file_extension(file_name: &str) -> Option<String> {
    let (stem, ext) = file_name.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() || ext.len() > 16 || !ext.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

/// Checks a user-supplied file name: kept as metadata only (files are stored by content id),
/// but it still appears in headers and listings, so control characters and separators are out.
pub fn valid_file_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= MAX_FILE_NAME
        && !name.chars().any(|c| c.is_control() || c == '/' || c == '\\')
}

/// Normalises a folder path (`Financials/2026`): trimmed segments, no empty, `.` or `..` ones.
pub fn normalize_folder_path(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').map(str::trim).filter(|s| !s.is_empty()).collect();
    if segments.is_empty()
        || segments.len() > 16
        || segments.iter().any(|s| *s == "." || *s == ".." || s.chars().any(char::is_control) || s.len() > 128)
    {
        return None;
    }
    Some(segments.join("/"))
}

/// SHA-256 of file content, in lower-case hex: the file's name in the data directory.
pub fn content_id(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// True for a string that can only be a content id (so it is safe as a file name).
pub fn is_content_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Media type announced when serving a file, by extension.
pub fn content_type_for(extension: Option<&str>) -> &'static str {
    match extension.unwrap_or("") {
        "pdf" => "application/pdf",
        "csv" => "text/csv; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xls" => "application/vnd.ms-excel",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "doc" => "application/msword",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// `Content-Disposition` for a download: an ASCII fallback name plus the exact UTF-8 name
/// (RFC 6266 / RFC 8187), so no user-supplied byte can break the header.
pub fn content_disposition(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

fn parse_fields(value: &str) -> Result<Vec<&'static str>, ApiError> {
    let mut out = vec!["id", "vault"];
    for item in value.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(ApiError::invalid_field(
                "fields",
                "must be a comma-separated list of names with no empty entries",
            ));
        }
        match DOCUMENT_FIELDS.iter().copied().find(|f| *f == item) {
            Some(f) => {
                if !out.contains(&f) {
                    out.push(f)
                }
            }
            None => {
                return Err(ApiError::invalid_field("fields", format!("unknown field {}", cut(item)))
                    .with_detail("allowed", DOCUMENT_FIELDS));
            }
        }
    }
    Ok(out)
}

/// `GET /deals/{deal_id}/documents` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentQuery {
    pub limit: u32,
    /// Keyset position and the token as sent.
    pub cursor: Option<(i64, String)>,
    pub search: Option<String>,
    pub extension: Option<String>,
    pub folder_id: Option<i64>,
    pub vault_id: Option<i64>,
    /// `None`: every field; otherwise always with `id` and `vault`.
    pub fields: Option<Vec<&'static str>>,
}

pub fn parse_document_query(raw_query: Option<&str>) -> Result<DocumentQuery, ApiError> {
    let params = PlainParams::parse(raw_query)?;
    let mut q = DocumentQuery {
        limit: 50,
        cursor: None,
        search: None,
        extension: None,
        folder_id: None,
        vault_id: None,
        fields: None,
    };
    for (key, value) in &params.pairs {
        match key.as_str() {
            "limit" => q.limit = clamped_limit(value)?,
            "cursor" => match decode_cursor(value) {
                Some(id) => q.cursor = Some((id, value.clone())),
                None => return Err(ApiError::bad_request("Invalid cursor")),
            },
            "search" => q.search = search_param("search", value)?,
            "extension" => {
                let ext = value.trim().trim_start_matches('.').to_ascii_lowercase();
                if ext.is_empty() || ext.len() > 16 || !ext.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(ApiError::invalid_field("extension", "must be a file extension such as pdf or xlsx"));
                }
                q.extension = Some(ext);
            }
            "folder_id" => q.folder_id = Some(positive_param("folder_id", value)?),
            "vault_id" => q.vault_id = Some(positive_param("vault_id", value)?),
            "fields" => q.fields = Some(parse_fields(value)?),
            k if k == "filter" || k.starts_with("filter[") => {
                // The field is named like any other refused name; no filter names are accepted
                // (the narrowing parameters are plain: extension, folder_id, vault_id, search).
                let mut fields = Map::new();
                fields.insert(
                    cut(k),
                    Value::from(
                        "is not accepted: this endpoint takes extension, folder_id, vault_id and search as plain \
                         query parameters",
                    ),
                );
                return Err(ApiError::new(ErrorKind::Validation, "This endpoint does not accept filter parameters")
                    .with_detail("fields", Value::Object(fields))
                    .with_detail("parameter", cut(k))
                    .with_detail("allowed", Value::Array(Vec::new())));
            }
            _ => {}
        }
    }
    Ok(q)
}

/// `fields` of a single-document read.
pub fn parse_document_fields(raw_query: Option<&str>) -> Result<Option<Vec<&'static str>>, ApiError> {
    let params = PlainParams::parse(raw_query)?;
    params.get("fields").map(parse_fields).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_folders() {
        assert_eq!(file_extension("Rent Roll May.PDF").as_deref(), Some("pdf"));
        assert_eq!(file_extension("README"), None);
        assert_eq!(file_extension(".env"), None);
        assert!(valid_file_name("T12 (2026).xlsx"));
        assert!(!valid_file_name("../etc/passwd"));
        assert!(!valid_file_name("a\nb"));
        assert_eq!(normalize_folder_path(" Financials / 2026/ ").as_deref(), Some("Financials/2026"));
        assert_eq!(normalize_folder_path("a/../b"), None);
        assert!(is_content_id(&content_id(b"x")));
        assert!(!is_content_id("../../etc/passwd"));
        let cd = content_disposition("Rent \"Roll\"\r\n é.pdf");
        assert!(cd.is_ascii() && !cd.contains('\r') && !cd.contains('\n'), "{cd}");
        assert!(cd.contains("filename*=UTF-8''Rent%20%22Roll%22%0D%0A%20%C3%A9.pdf"), "{cd}");
    }
}
