//! The deal index: metric definitions, facts, observations and entities as the API shows
//! them, and the rules on source-of-truth references and values.

use serde::Serialize;

use super::{ENTITY_DEAL, MAX_REF};

/// A metric of the catalog, with what the index needs beyond the API's view.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDefinition {
    pub id: i64,
    pub metric_key: String,
    pub metric_label: String,
    pub value_type: String,
    pub category_id: i64,
    pub category_label: String,
    /// Which kind of entity its values attach to (`deal`, `property`, `sponsor`).
    pub entity_type: String,
    pub editable: bool,
    /// Its value names the entity (a property's name, a sponsor's name).
    pub identifying: bool,
    pub support_multiple_values: bool,
}

/// `DealIndexMetricDefinition`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexMetricDefinition {
    pub id: Option<i64>,
    pub metric_key: Option<String>,
    pub metric_label: Option<String>,
    pub value_type: Option<String>,
    pub category_id: Option<i64>,
}

impl From<&MetricDefinition> for DealIndexMetricDefinition {
    fn from(m: &MetricDefinition) -> Self {
        DealIndexMetricDefinition {
            id: Some(m.id),
            metric_key: Some(m.metric_key.clone()),
            metric_label: Some(m.metric_label.clone()),
            value_type: Some(m.value_type.clone()),
            category_id: Some(m.category_id),
        }
    }
}

/// The document (if any) behind a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceDocument {
    pub document_id: Option<i64>,
    pub document_type: Option<String>,
    pub file_name: Option<String>,
    pub file_extension: Option<String>,
    pub pages: Vec<i64>,
}

impl SourceDocument {
    /// As the API shows it, without a signed URL (the service adds one on request); pages
    /// only where there is a document.
    pub fn to_source(&self, source_type: &str, observation_count: Option<i64>) -> DealIndexSource {
        DealIndexSource {
            source_type: Some(source_type.to_string()),
            document_id: self.document_id,
            document_type: self.document_type.clone(),
            file_name: self.file_name.clone(),
            file_extension: self.file_extension.clone(),
            pages: self.document_id.map(|_| self.pages.clone()),
            observation_count,
            signed_url: None,
            signed_url_error: None,
        }
    }
}

/// `DealIndexSearchSource` (also the `source` of observations).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexSource {
    #[serde(rename = "type")]
    pub source_type: Option<String>,
    pub document_id: Option<i64>,
    pub document_type: Option<String>,
    pub file_name: Option<String>,
    pub file_extension: Option<String>,
    pub pages: Option<Vec<i64>>,
    pub observation_count: Option<i64>,
    pub signed_url: Option<String>,
    pub signed_url_error: Option<String>,
}

/// A canonical value as stored, with its metric and source.
#[derive(Debug, Clone, PartialEq)]
pub struct FactRecord {
    pub sot_id: i64,
    pub deal_id: i64,
    pub metric: MetricDefinition,
    pub value_text: String,
    pub period_type: Option<String>,
    pub period_value: Option<String>,
    pub context: Option<String>,
    pub summary: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
    pub source_type: String,
    pub source_id: Option<String>,
    pub observation_id: Option<i64>,
    pub weight: Option<i64>,
    pub origin: String,
    pub needs_review: bool,
    pub document: SourceDocument,
    pub observation_count: i64,
}

/// `DealIndexFact`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexFact {
    pub id: Option<String>,
    pub sot_id: Option<i64>,
    pub metric_key: Option<String>,
    pub metric_id: Option<i64>,
    pub value_text: Option<String>,
    pub value_type: Option<String>,
    pub period_type: Option<String>,
    pub period_value: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
    pub category_id: Option<i64>,
    pub source_type: Option<String>,
    pub source_id: Option<String>,
    pub observation_id: Option<i64>,
    pub weight: Option<i64>,
    pub origin: Option<String>,
    pub editable: Option<bool>,
}

/// `DealIndexSearchResult`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexSearchResult {
    pub id: Option<String>,
    pub sot_id: Option<i64>,
    pub metric_key: Option<String>,
    pub metric_id: Option<i64>,
    pub metric_label: Option<String>,
    pub value_text: Option<String>,
    pub value_type: Option<String>,
    pub context: Option<String>,
    pub summary: Option<String>,
    pub period_type: Option<String>,
    pub period_value: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
    pub category_id: Option<i64>,
    pub category_label: Option<String>,
    pub needs_review: Option<bool>,
    pub score: Option<f64>,
    pub source: DealIndexSource,
}

impl FactRecord {
    /// The prefixed SOT string of this fact.
    pub fn sot_ref(&self) -> String {
        sot_string(self.sot_id, self.entity_ref.as_deref(), self.group_ref.as_deref())
    }

    pub fn to_fact(&self) -> DealIndexFact {
        DealIndexFact {
            id: Some(self.sot_ref()),
            sot_id: Some(self.sot_id),
            metric_key: Some(self.metric.metric_key.clone()),
            metric_id: Some(self.metric.id),
            value_text: Some(self.value_text.clone()),
            value_type: Some(self.metric.value_type.clone()),
            period_type: self.period_type.clone(),
            period_value: self.period_value.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id,
            entity_ref: self.entity_ref.clone(),
            group_ref: self.group_ref.clone(),
            category_id: Some(self.metric.category_id),
            source_type: Some(self.source_type.clone()),
            source_id: self.source_id.clone(),
            observation_id: self.observation_id,
            weight: self.weight,
            origin: Some(self.origin.clone()),
            editable: Some(self.metric.editable),
        }
    }

    /// The source without a signed URL (the service adds one on request).
    pub fn source(&self) -> DealIndexSource {
        self.document.to_source(&self.source_type, Some(self.observation_count))
    }

    pub fn to_search_result(&self, score: f64) -> DealIndexSearchResult {
        DealIndexSearchResult {
            id: Some(self.sot_ref()),
            sot_id: Some(self.sot_id),
            metric_key: Some(self.metric.metric_key.clone()),
            metric_id: Some(self.metric.id),
            metric_label: Some(self.metric.metric_label.clone()),
            value_text: Some(self.value_text.clone()),
            value_type: Some(self.metric.value_type.clone()),
            context: self.context.clone(),
            summary: self.summary.clone(),
            period_type: self.period_type.clone(),
            period_value: self.period_value.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id,
            entity_ref: self.entity_ref.clone(),
            group_ref: self.group_ref.clone(),
            category_id: Some(self.metric.category_id),
            category_label: Some(self.metric.category_label.clone()),
            needs_review: Some(self.needs_review),
            score: Some(score),
            source: self.source(),
        }
    }
}

/// One candidate value as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRecord {
    pub id: i64,
    pub deal_id: i64,
    pub metric: MetricDefinition,
    pub value_text: String,
    pub original_text: Option<String>,
    pub context: Option<String>,
    pub summary: Option<String>,
    pub period_type: Option<String>,
    pub period_value: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
    pub confidence: Option<f64>,
    pub weight: i64,
    pub source_type: String,
    pub document: SourceDocument,
    pub created_at: String,
}

/// `DealIndexObservation`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexObservation {
    pub id: Option<i64>,
    pub metric_key: Option<String>,
    pub metric_id: Option<i64>,
    pub value_text: Option<String>,
    pub value_type: Option<String>,
    pub original_text: Option<String>,
    pub context: Option<String>,
    pub summary: Option<String>,
    pub period_type: Option<String>,
    pub period_value: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
    pub category_id: Option<i64>,
    pub confidence: Option<f64>,
    pub weight: Option<i64>,
    pub source: DealIndexSource,
}

impl ObservationRecord {
    pub fn to_observation(&self) -> DealIndexObservation {
        DealIndexObservation {
            id: Some(self.id),
            metric_key: Some(self.metric.metric_key.clone()),
            metric_id: Some(self.metric.id),
            value_text: Some(self.value_text.clone()),
            value_type: Some(self.metric.value_type.clone()),
            original_text: self.original_text.clone(),
            context: self.context.clone(),
            summary: self.summary.clone(),
            period_type: self.period_type.clone(),
            period_value: self.period_value.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id,
            entity_ref: self.entity_ref.clone(),
            group_ref: self.group_ref.clone(),
            category_id: Some(self.metric.category_id),
            confidence: self.confidence,
            weight: Some(self.weight),
            source: self.document.to_source(&self.source_type, None),
        }
    }
}

/// `DealIndexEntity`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexEntity {
    pub entity_ref: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub group_ref: Option<String>,
    pub identifying_metrics: Vec<IdentifyingMetric>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IdentifyingMetric {
    pub metric_key: Option<String>,
    pub metric_label: Option<String>,
    pub value_text: Option<String>,
    pub support_multiple_values: Option<bool>,
}

/// A candidate value to record: extracted from a document, or typed by a user.
#[derive(Debug, Clone, PartialEq)]
pub struct NewObservation {
    pub metric_id: i64,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_ref: Option<String>,
    pub group_ref: Option<String>,
    pub value_text: String,
    pub original_text: Option<String>,
    pub context: Option<String>,
    pub summary: Option<String>,
    pub period_type: Option<String>,
    pub period_value: Option<String>,
    pub confidence: Option<f64>,
    pub weight: i64,
    pub source_type: &'static str,
    pub document_id: Option<i64>,
    pub pages: Vec<i64>,
    pub created_by_user_id: Option<i64>,
}

impl NewObservation {
    pub fn slot(&self) -> String {
        fact_slot(self.entity_ref.as_deref(), self.group_ref.as_deref())
    }
}

/// What recording an observation did to the canonical value of its slot.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedObservation {
    pub observation_id: i64,
    /// The canonical value afterwards.
    pub fact: FactRecord,
    /// Whether the canonical value was created or changed.
    pub fact_written: bool,
}

/// Page numbers as stored (`1,2,5`).
pub fn pages_to_text(pages: &[i64]) -> Option<String> {
    if pages.is_empty() { None } else { Some(pages.iter().map(i64::to_string).collect::<Vec<_>>().join(",")) }
}

pub fn pages_from_text(text: Option<&str>) -> Vec<i64> {
    text.map(|t| t.split(',').filter_map(|p| p.trim().parse().ok()).collect()).unwrap_or_default()
}

/// One entry of `results` of a fact insert.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FactInsertResult {
    pub index: Option<i64>,
    pub metric_id: Option<i64>,
    pub success: Option<bool>,
    pub sot: Option<DealIndexFact>,
    pub error: Option<String>,
}

/// `DealIndexFactInsertResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DealIndexFactInsertResponse {
    pub success: Option<bool>,
    pub error: Option<String>,
    pub metric_sot_values: Vec<DealIndexFact>,
    pub results: Vec<FactInsertResult>,
}

/// Where a value sits: one canonical value per metric and slot (the entity, a pending group,
/// or the deal itself).
pub fn fact_slot(entity_ref: Option<&str>, group_ref: Option<&str>) -> String {
    match (entity_ref, group_ref) {
        (Some(e), _) => e.to_string(),
        (None, Some(g)) => format!("group:{g}"),
        (None, None) => ENTITY_DEAL.to_string(),
    }
}

/// The prefixed SOT string: `d:<sot>` for a deal-level value, `a:<sot>:<entity_ref>` for a
/// value attached to an entity, `g:<sot>:<group_ref>` for one waiting on a new entity.
pub fn sot_string(sot_id: i64, entity_ref: Option<&str>, group_ref: Option<&str>) -> String {
    match (entity_ref, group_ref) {
        (Some(e), _) => format!("a:{sot_id}:{e}"),
        (None, Some(g)) => format!("g:{sot_id}:{g}"),
        (None, None) => format!("d:{sot_id}"),
    }
}

/// A parsed prefixed SOT string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SotRef {
    pub sot_id: i64,
    /// The whole string, compared with the fact's own form once it is found.
    pub raw: String,
}

/// `^[A-Za-z]+:[A-Za-z0-9:_-]+$` whose second segment is the numeric id.
pub fn parse_sot_ref(s: &str) -> Option<SotRef> {
    if s.len() > 160 {
        return None;
    }
    let (prefix, rest) = s.split_once(':')?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-')) {
        return None;
    }
    let id = rest.split(':').next()?;
    let sot_id = id.parse::<i64>().ok().filter(|n| *n > 0)?;
    Some(SotRef { sot_id, raw: s.to_string() })
}

/// `entity_ref` (`property:690`) or `group_ref` text: bounded, the SOT alphabet only (both end
/// up inside prefixed SOT strings).
pub(super) fn valid_ref(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_REF
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// Splits `type:id` into its parts.
pub fn split_entity_ref(s: &str) -> Option<(&str, i64)> {
    let (t, id) = s.split_once(':')?;
    let id = id.parse::<i64>().ok().filter(|n| *n > 0)?;
    (!t.is_empty() && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')).then_some((t, id))
}

/// Checks a recorded value against the metric's type; `Err` says why it does not fit.
/// Money and numbers may carry `$`, `,` and `%` as people type them.
pub fn check_value(value_type: &str, value: &str) -> Result<(), String> {
    let cleaned: String = value.chars().filter(|c| !matches!(c, '$' | ',' | '%' | ' ' | '_')).collect();
    match value_type {
        "currency" | "number" | "percent" => match cleaned.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(()),
            _ => Err(format!("value must be a number for a {value_type} metric")),
        },
        "integer" => match cleaned.parse::<i64>() {
            Ok(_) => Ok(()),
            Err(_) => Err("value must be a whole number for an integer metric".into()),
        },
        "date" => crate::time_fmt::parse_date(value.trim())
            .map(|_| ())
            .ok_or_else(|| "value must be a date (YYYY-MM-DD) for a date metric".into()),
        _ => Ok(()),
    }
}

/// What the index's full-text search matches for a fact: its metric's names and category, the
/// value, the text around it and its period. Underscores become spaces so `noi_t12` matches
/// `NOI` and `T12` on every backend's tokenizer.
pub fn fact_search_text(
    metric: &MetricDefinition,
    value: &str,
    context: Option<&str>,
    summary: Option<&str>,
    period: Option<&str>,
) -> String {
    [
        metric.metric_label.as_str(),
        &metric.metric_key.replace('_', " "),
        metric.category_label.as_str(),
        value,
        context.unwrap_or(""),
        summary.unwrap_or(""),
        period.unwrap_or(""),
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" \n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sot_refs() {
        assert_eq!(parse_sot_ref("d:5362").map(|r| r.sot_id), Some(5362));
        assert_eq!(parse_sot_ref("a:123:property:690").map(|r| r.sot_id), Some(123));
        for bad in ["", "5362", "d:", ":1", "d:abc", "d:0", "d 1:2", "d:1/2", "1:2"] {
            assert!(parse_sot_ref(bad).is_none(), "{bad}");
        }
        assert_eq!(sot_string(9, Some("property:4"), None), "a:9:property:4");
        assert_eq!(sot_string(9, None, Some("new-sponsor")), "g:9:new-sponsor");
        assert_eq!(sot_string(9, None, None), "d:9");
        assert_eq!(fact_slot(None, Some("x")), "group:x");
        assert_eq!(split_entity_ref("property:690"), Some(("property", 690)));
        assert_eq!(split_entity_ref("property:x"), None);
    }

    #[test]
    fn values_are_checked_against_metric_types() {
        assert!(check_value("currency", "$615,000").is_ok());
        assert!(check_value("percent", "93%").is_ok());
        assert!(check_value("currency", "a lot").is_err());
        assert!(check_value("integer", "12.5").is_err());
        assert!(check_value("date", "2026-02-30").is_err());
        assert!(check_value("text", "anything").is_ok());
    }
}
