//! Deal data: vaults, folders, documents, the file-link secret, checklists and tasks, memos and
//! the deal index. Every query of account-owned rows filters on the account id; the few lookups
//! without one (`*_for_link`, `deal_owner`) serve signed file links and the admin command, whose
//! callers have already been authorised another way.
//!
//! The full-text search of the index is the one place where the SQL differs by backend:
//! SQLite's FTS5 (BM25) and PostgreSQL's `tsvector` (`ts_rank`) — see [`Store::search_facts`].
use std::collections::HashMap;

use levd_domain::deal::fold_case;
use levd_domain::deal_data::{
    ChecklistAssignedTeam, ChecklistAssignee, ChecklistCollaborator, ChecklistDocumentType, ChecklistHead,
    ChecklistSection, ChecklistTask, ChecklistTaskFile, DealChecklist, DealDocument, DocumentQuery, FactRecord,
    MemoQuery, MemoRecord, MetricDefinition, MetricQuery, NewDocument, NewMemo, NewObservation, NewTask,
    ORIGIN_EXTRACTED, ORIGIN_MANUAL, ORIGIN_PROMOTED, ORIGIN_USER_INPUT, ObservationRecord, PDF_COMPLETED,
    REVIEW_CONFIDENCE, RecordedObservation, SOURCE_MANUAL, SOURCE_USER_INPUT, SourceDocument, TaskChanges, TaskParent,
    TaskPlace, VAULT_RESOURCES, VAULT_SHARED, Vault, VaultRef, assemble_checklists, fact_search_text, pages_from_text,
    pages_to_text,
};
use sqlx::FromRow;

use crate::{Backend, Result, Sql, Store, StoreError, WriteTx};

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

#[derive(Debug, FromRow)]
struct VaultRow {
    id: i64,
    vault_type: String,
    title: Option<String>,
    is_default: i64,
    document_count: i64,
}

impl From<VaultRow> for Vault {
    fn from(r: VaultRow) -> Vault {
        Vault {
            id: r.id,
            vault_type: r.vault_type,
            title: r.title,
            is_default: r.is_default != 0,
            document_count: r.document_count,
        }
    }
}

const VAULT_SELECT: &str = "SELECT v.id, v.vault_type, v.title, v.is_default, \
     (SELECT COUNT(*) FROM documents d WHERE d.vault_id = v.id) AS document_count FROM vaults v";

/// Resources first, then the default Deal Room, then the other rooms by age.
const VAULT_ORDER: &str = " ORDER BY CASE WHEN v.vault_type = 'resources' THEN 0 ELSE 1 END, v.is_default DESC, v.id";

#[derive(Debug, FromRow)]
struct DocumentRow {
    id: i64,
    deal_id: i64,
    file_name: Option<String>,
    extension: Option<String>,
    size_bytes: Option<i64>,
    folder_path: Option<String>,
    uploaded_at: Option<String>,
    content_id: Option<String>,
    document_type: Option<String>,
    vault_id: i64,
    vault_type: String,
    vault_title: Option<String>,
}

crate::readers::from_sqlite!(DocumentRow {
    id,
    deal_id,
    file_name,
    extension,
    size_bytes,
    folder_path,
    uploaded_at,
    content_id,
    document_type,
    vault_id,
    vault_type,
    vault_title
});

impl From<DocumentRow> for DealDocument {
    fn from(r: DocumentRow) -> DealDocument {
        DealDocument {
            id: r.id,
            file_name: r.file_name,
            extension: r.extension,
            size_bytes: r.size_bytes,
            folder_path: r.folder_path,
            uploaded_at: r.uploaded_at,
            vault: VaultRef { id: r.vault_id, vault_type: r.vault_type, title: r.vault_title },
            deal_id: r.deal_id,
            content_id: r.content_id,
            document_type: r.document_type,
        }
    }
}

const DOCUMENT_SELECT: &str = "SELECT d.id, d.deal_id, d.file_name, d.extension, d.size_bytes, \
     f.path AS folder_path, d.uploaded_at, d.content_id, dt.name AS document_type, \
     v.id AS vault_id, v.vault_type, v.title AS vault_title \
     FROM documents d JOIN vaults v ON v.id = d.vault_id \
     LEFT JOIN vault_folders f ON f.id = d.folder_id \
     LEFT JOIN document_types dt ON dt.id = d.document_type_id";

#[derive(Debug, FromRow)]
struct SectionRow {
    id: i64,
    checklist_id: i64,
    name: String,
    position: i64,
    start_date: Option<String>,
    end_date: Option<String>,
}

#[derive(Debug, FromRow)]
struct TaskRow {
    id: i64,
    checklist_id: i64,
    section_id: Option<i64>,
    parent_task_id: Option<i64>,
    title: String,
    description: Option<String>,
    status: String,
    is_completed: i64,
    position: i64,
    due_date: Option<String>,
    role: Option<String>,
    assignee_user_id: Option<i64>,
    assignee_first_name: Option<String>,
    assignee_last_name: Option<String>,
    assignee_email: Option<String>,
    team_type: Option<String>,
    team_id: Option<i64>,
    team_name: Option<String>,
}

impl From<TaskRow> for ChecklistTask {
    fn from(r: TaskRow) -> ChecklistTask {
        ChecklistTask {
            id: r.id,
            title: r.title,
            description: r.description,
            status: r.status,
            is_completed: r.is_completed != 0,
            position: r.position,
            due_date: r.due_date,
            role: r.role,
            assignee: r.assignee_user_id.map(|id| ChecklistAssignee {
                id,
                first_name: r.assignee_first_name,
                last_name: r.assignee_last_name,
                email: r.assignee_email,
            }),
            assigned_team: match (r.team_type, r.team_id) {
                (Some(team_type), Some(id)) => Some(ChecklistAssignedTeam { id, team_type, name: r.team_name }),
                _ => None,
            },
            collaborators: Vec::new(),
            document_types: Vec::new(),
            files: Vec::new(),
            subtasks: Vec::new(),
            checklist_id: r.checklist_id,
            section_id: r.section_id,
            parent_task_id: r.parent_task_id,
        }
    }
}

/// An account team's name shows only for the task's own account (callers only ever see their
/// account's tasks), as the schema note on `ChecklistAssignedTeam.name` asks.
const TASK_SELECT: &str = "SELECT t.id, t.checklist_id, t.section_id, t.parent_task_id, t.title, t.description, \
     t.status, t.is_completed, t.position, t.due_date, t.role, t.assignee_user_id, \
     u.first_name AS assignee_first_name, u.last_name AS assignee_last_name, u.email AS assignee_email, \
     t.team_type, t.team_id, \
     CASE WHEN t.team_type = 'account' THEN (SELECT a.name FROM accounts a WHERE a.id = t.team_id AND a.id = t.account_id) \
     ELSE t.team_name END AS team_name \
     FROM checklist_tasks t LEFT JOIN users u ON u.id = t.assignee_user_id";

#[derive(Debug, FromRow)]
struct MemoRow {
    id: i64,
    uuid: String,
    deal_id: i64,
    title: String,
    memo_type: String,
    status: String,
    body: String,
    published_at: Option<String>,
    updated_at: String,
    created_by_user_id: Option<i64>,
    created_by_name: Option<String>,
    pdf_generation_status: String,
    pdf_content_id: Option<String>,
}

impl From<MemoRow> for MemoRecord {
    fn from(r: MemoRow) -> MemoRecord {
        MemoRecord {
            id: r.id,
            uuid: r.uuid,
            deal_id: r.deal_id,
            title: r.title,
            memo_type: r.memo_type,
            status: r.status,
            body: r.body,
            published_at: r.published_at,
            updated_at: r.updated_at,
            created_by_user_id: r.created_by_user_id,
            created_by_name: r.created_by_name.filter(|n| !n.is_empty()),
            pdf_generation_status: r.pdf_generation_status,
            pdf_content_id: r.pdf_content_id,
            vaults: Vec::new(),
        }
    }
}

const MEMO_SELECT: &str = "SELECT m.id, m.uuid, m.deal_id, m.title, m.memo_type, m.status, m.body, m.published_at, \
     m.updated_at, m.created_by_user_id, \
     CASE WHEN u.id IS NULL THEN NULL ELSE TRIM(COALESCE(u.first_name, '') || ' ' || COALESCE(u.last_name, '')) END AS created_by_name, \
     m.pdf_generation_status, m.pdf_content_id FROM memos m LEFT JOIN users u ON u.id = m.created_by_user_id";

#[derive(Debug, FromRow)]
struct MetricRow {
    id: i64,
    metric_key: String,
    metric_label: String,
    value_type: String,
    category_id: i64,
    category_label: String,
    entity_type: String,
    editable: i64,
    identifying: i64,
    support_multiple_values: i64,
}

impl From<MetricRow> for MetricDefinition {
    fn from(r: MetricRow) -> MetricDefinition {
        MetricDefinition {
            id: r.id,
            metric_key: r.metric_key,
            metric_label: r.metric_label,
            value_type: r.value_type,
            category_id: r.category_id,
            category_label: r.category_label,
            entity_type: r.entity_type,
            editable: r.editable != 0,
            identifying: r.identifying != 0,
            support_multiple_values: r.support_multiple_values != 0,
        }
    }
}

const METRIC_COLUMNS: &str = "id, metric_key, metric_label, value_type, category_id, category_label, entity_type, \
     editable, identifying, support_multiple_values";

/// Metric columns as joined under `m`, named like `MetricRow` with an `m_` prefix where they
/// would clash.
const METRIC_JOINED: &str = "m.id AS m_id, m.metric_key AS m_metric_key, m.metric_label AS m_metric_label, \
     m.value_type AS m_value_type, m.category_id AS m_category_id, m.category_label AS m_category_label, \
     m.entity_type AS m_entity_type, m.editable AS m_editable, m.identifying AS m_identifying, \
     m.support_multiple_values AS m_support_multiple_values";

#[derive(Debug, FromRow)]
struct JoinedMetric {
    m_id: i64,
    m_metric_key: String,
    m_metric_label: String,
    m_value_type: String,
    m_category_id: i64,
    m_category_label: String,
    m_entity_type: String,
    m_editable: i64,
    m_identifying: i64,
    m_support_multiple_values: i64,
}

impl From<JoinedMetric> for MetricDefinition {
    fn from(r: JoinedMetric) -> MetricDefinition {
        MetricRow {
            id: r.m_id,
            metric_key: r.m_metric_key,
            metric_label: r.m_metric_label,
            value_type: r.m_value_type,
            category_id: r.m_category_id,
            category_label: r.m_category_label,
            entity_type: r.m_entity_type,
            editable: r.m_editable,
            identifying: r.m_identifying,
            support_multiple_values: r.m_support_multiple_values,
        }
        .into()
    }
}

#[derive(Debug, FromRow)]
struct FactRow {
    id: i64,
    deal_id: i64,
    value_text: String,
    period_type: Option<String>,
    period_value: Option<String>,
    context: Option<String>,
    summary: Option<String>,
    entity_type: Option<String>,
    entity_id: Option<i64>,
    entity_ref: Option<String>,
    group_ref: Option<String>,
    source_type: String,
    source_id: Option<String>,
    observation_id: Option<i64>,
    weight: Option<i64>,
    origin: String,
    needs_review: i64,
    document_id: Option<i64>,
    pages: Option<String>,
    doc_file_name: Option<String>,
    doc_extension: Option<String>,
    doc_type: Option<String>,
    observation_count: i64,
    #[sqlx(flatten)]
    metric: JoinedMetric,
}

impl From<FactRow> for FactRecord {
    fn from(r: FactRow) -> FactRecord {
        FactRecord {
            sot_id: r.id,
            deal_id: r.deal_id,
            metric: r.metric.into(),
            value_text: r.value_text,
            period_type: r.period_type,
            period_value: r.period_value,
            context: r.context,
            summary: r.summary,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            entity_ref: r.entity_ref,
            group_ref: r.group_ref,
            source_type: r.source_type,
            source_id: r.source_id,
            observation_id: r.observation_id,
            weight: r.weight,
            origin: r.origin,
            needs_review: r.needs_review != 0,
            document: SourceDocument {
                document_id: r.document_id,
                document_type: r.doc_type,
                file_name: r.doc_file_name,
                file_extension: r.doc_extension,
                pages: pages_from_text(r.pages.as_deref()),
            },
            observation_count: r.observation_count,
        }
    }
}

fn fact_select() -> String {
    format!(
        "SELECT f.id, f.deal_id, f.value_text, f.period_type, f.period_value, f.context, f.summary, f.entity_type, \
         f.entity_id, f.entity_ref, f.group_ref, f.source_type, f.source_id, f.observation_id, f.weight, f.origin, \
         f.needs_review, f.document_id, f.pages, d.file_name AS doc_file_name, d.extension AS doc_extension, \
         dt.name AS doc_type, \
         (SELECT COUNT(*) FROM index_observations o WHERE o.deal_id = f.deal_id AND o.metric_id = f.metric_id \
          AND o.slot = f.slot) AS observation_count, {METRIC_JOINED} \
         FROM index_facts f JOIN index_metric_definitions m ON m.id = f.metric_id \
         LEFT JOIN documents d ON d.id = f.document_id LEFT JOIN document_types dt ON dt.id = d.document_type_id"
    )
}

#[derive(Debug, FromRow)]
struct ObservationRow {
    id: i64,
    deal_id: i64,
    value_text: String,
    original_text: Option<String>,
    context: Option<String>,
    summary: Option<String>,
    period_type: Option<String>,
    period_value: Option<String>,
    entity_type: Option<String>,
    entity_id: Option<i64>,
    entity_ref: Option<String>,
    group_ref: Option<String>,
    confidence: Option<f64>,
    weight: i64,
    source_type: String,
    document_id: Option<i64>,
    pages: Option<String>,
    doc_file_name: Option<String>,
    doc_extension: Option<String>,
    doc_type: Option<String>,
    created_at: String,
    #[sqlx(flatten)]
    metric: JoinedMetric,
}

impl From<ObservationRow> for ObservationRecord {
    fn from(r: ObservationRow) -> ObservationRecord {
        ObservationRecord {
            id: r.id,
            deal_id: r.deal_id,
            metric: r.metric.into(),
            value_text: r.value_text,
            original_text: r.original_text,
            context: r.context,
            summary: r.summary,
            period_type: r.period_type,
            period_value: r.period_value,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            entity_ref: r.entity_ref,
            group_ref: r.group_ref,
            confidence: r.confidence,
            weight: r.weight,
            source_type: r.source_type,
            document: SourceDocument {
                document_id: r.document_id,
                document_type: r.doc_type,
                file_name: r.doc_file_name,
                file_extension: r.doc_extension,
                pages: pages_from_text(r.pages.as_deref()),
            },
            created_at: r.created_at,
        }
    }
}

fn observation_select() -> String {
    format!(
        "SELECT o.id, o.deal_id, o.value_text, o.original_text, o.context, o.summary, o.period_type, o.period_value, \
         o.entity_type, o.entity_id, o.entity_ref, o.group_ref, o.confidence, o.weight, o.source_type, \
         o.document_id, o.pages, d.file_name AS doc_file_name, d.extension AS doc_extension, dt.name AS doc_type, \
         o.created_at, {METRIC_JOINED} \
         FROM index_observations o JOIN index_metric_definitions m ON m.id = o.metric_id \
         LEFT JOIN documents d ON d.id = o.document_id LEFT JOIN document_types dt ON dt.id = d.document_type_id"
    )
}

/// `(task_id, vault_resource_id, document_id, name, origin)`.
type TaskFileRow = (i64, i64, Option<i64>, Option<String>, String);

/// A sponsor (or other non-property entity) of a deal.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct IndexEntityRow {
    pub id: i64,
    pub entity_type: String,
    pub name: Option<String>,
}

/// One full-text candidate: the fact, the engine's strength (higher is better) and how many of
/// the question's terms it matches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FactHit {
    pub fact_id: i64,
    pub strength: f64,
    pub matched_terms: usize,
}

/// The associated data the file-link secret is sealed with.
pub(crate) const LINK_SECRET_PURPOSE: &str = "file_link_secrets:1";

fn offset_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    // -----------------------------------------------------------------------------------------
    // File-link secret
    // -----------------------------------------------------------------------------------------

    /// The secret that signs file links, hex-encoded, if one was made.
    pub async fn file_link_secret(&self) -> Result<Option<String>> {
        let stored: Option<String> = sqlx::query_scalar("SELECT secret_hex FROM file_link_secrets WHERE id = 1")
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        stored.map(|s| self.open_secret(s, LINK_SECRET_PURPOSE)).transpose()
    }

    /// Stores `candidate` as the file-link secret unless one exists, and returns the stored
    /// one: the first writer wins, so every node ends up with the same secret.
    /// The secret is stored sealed with the secret key.
    pub async fn init_file_link_secret(&self, candidate: &str, now: &str) -> Result<String> {
        let sealed = self.seal_secret(candidate, LINK_SECRET_PURPOSE)?;
        sqlx::query(
            "INSERT INTO file_link_secrets (id, secret_hex, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(sealed)
        .bind(now)
        .execute(&mut *self.conn().await?)
        .await?;
        let stored: String = sqlx::query_scalar("SELECT secret_hex FROM file_link_secrets WHERE id = 1")
            .fetch_one(&mut *self.conn().await?)
            .await?;
        self.open_secret(stored, LINK_SECRET_PURPOSE)
    }

    // -----------------------------------------------------------------------------------------
    // Vaults and folders
    // -----------------------------------------------------------------------------------------

    /// The account owning a deal (admin command only; API callers go through `deal`).
    pub async fn deal_owner(&self, deal_id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT owner_account_id FROM deals WHERE id = $1")
            .bind(deal_id)
            .fetch_optional(&mut *self.conn().await?)
            .await?)
    }

    /// Gives a deal of the account the vaults every deal has — a private Resources vault and a
    /// default Deal Room with its checklist — when it has none yet (deals created before or
    /// outside this domain). Safe to race: the unique indexes keep one of each.
    pub async fn ensure_deal_vaults(&self, account_id: i64, deal_id: i64, now: &str) -> Result<()> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM vaults WHERE account_id = $1 AND deal_id = $2")
            .bind(account_id)
            .bind(deal_id)
            .fetch_one(&mut *self.conn().await?)
            .await?;
        if n > 0 {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (vault_type, title, is_default) in
            [(VAULT_RESOURCES, "Deal Resources", 0i64), (VAULT_SHARED, "Deal Room", 1)]
        {
            sqlx::query(
                "INSERT INTO vaults (account_id, deal_id, vault_type, title, is_default, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(account_id)
            .bind(deal_id)
            .bind(vault_type)
            .bind(title)
            .bind(is_default)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        ensure_checklists(&mut tx, account_id, deal_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a vault to a deal of the account; a shared one (a Deal Room) gets its checklist.
    pub async fn insert_vault(
        &self,
        account_id: i64,
        deal_id: i64,
        vault_type: &str,
        title: &str,
        now: &str,
    ) -> Result<Vault> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO vaults (account_id, deal_id, vault_type, title, is_default, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5) RETURNING id",
        )
        .bind(account_id)
        .bind(deal_id)
        .bind(vault_type)
        .bind(title)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::on_unique(e, "vault"))?;
        ensure_checklists(&mut tx, account_id, deal_id, now).await?;
        tx.commit().await?;
        self.vault(account_id, deal_id, id).await?.ok_or(StoreError::NotFound("vault"))
    }

    pub async fn list_vaults(&self, account_id: i64, deal_id: i64) -> Result<Vec<Vault>> {
        let rows: Vec<VaultRow> =
            sqlx::query_as(sqlf!("{VAULT_SELECT} WHERE v.account_id = $1 AND v.deal_id = $2{VAULT_ORDER}"))
                .bind(account_id)
                .bind(deal_id)
                .fetch_all(&mut *self.conn().await?)
                .await?;
        Ok(rows.into_iter().map(Vault::from).collect())
    }

    pub async fn vault(&self, account_id: i64, deal_id: i64, vault_id: i64) -> Result<Option<Vault>> {
        let row: Option<VaultRow> =
            sqlx::query_as(sqlf!("{VAULT_SELECT} WHERE v.id = $1 AND v.account_id = $2 AND v.deal_id = $3"))
                .bind(vault_id)
                .bind(account_id)
                .bind(deal_id)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
        Ok(row.map(Vault::from))
    }

    /// The folder at `path` in a vault, created when missing.
    pub async fn folder_id(&self, account_id: i64, vault_id: i64, path: &str) -> Result<i64> {
        sqlx::query(
            "INSERT INTO vault_folders (account_id, vault_id, path) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(account_id)
        .bind(vault_id)
        .bind(path)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(sqlx::query_scalar("SELECT id FROM vault_folders WHERE account_id = $1 AND vault_id = $2 AND path = $3")
            .bind(account_id)
            .bind(vault_id)
            .bind(path)
            .fetch_one(&mut *self.conn().await?)
            .await?)
    }

    // -----------------------------------------------------------------------------------------
    // Documents
    // -----------------------------------------------------------------------------------------

    /// A page of a deal's documents in id order (one row more than `limit` when another page
    /// exists) and the number matching the filters.
    pub async fn list_documents(
        &self,
        account_id: i64,
        deal_id: i64,
        q: &DocumentQuery,
    ) -> Result<(Vec<DealDocument>, i64)> {
        let filter = |s: &mut Sql| {
            s.push(" WHERE d.account_id = ").push_bind(account_id);
            s.push(" AND d.deal_id = ").push_bind(deal_id);
            if let Some(v) = q.vault_id {
                s.push(" AND d.vault_id = ").push_bind(v);
            }
            if let Some(f) = q.folder_id {
                s.push(" AND d.folder_id = ").push_bind(f);
            }
            if let Some(e) = &q.extension {
                s.push(" AND d.extension = ").push_bind(e.clone());
            }
            if let Some(t) = &q.search {
                s.push_contains("d.search_name", &fold_case(t));
            }
        };
        let count = Sql::new("SELECT COUNT(*) FROM documents d");
        let after = q.cursor.as_ref().map(|(after, _)| *after);
        let (rows, total): (Vec<DocumentRow>, i64) =
            self.keyset_page(count, Sql::new(DOCUMENT_SELECT), filter, "d.id", after, q.limit).await?;
        Ok((rows.into_iter().map(DealDocument::from).collect(), total))
    }

    pub async fn document(&self, account_id: i64, deal_id: i64, document_id: i64) -> Result<Option<DealDocument>> {
        let row: Option<DocumentRow> =
            sqlx::query_as(sqlf!("{DOCUMENT_SELECT} WHERE d.id = $1 AND d.account_id = $2 AND d.deal_id = $3"))
                .bind(document_id)
                .bind(account_id)
                .bind(deal_id)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
        Ok(row.map(DealDocument::from))
    }

    /// A document by id alone, for a signed link (the signature is the authorisation).
    pub async fn document_for_link(&self, document_id: i64) -> Result<Option<DealDocument>> {
        let row: Option<DocumentRow> = sqlx::query_as(sqlf!("{DOCUMENT_SELECT} WHERE d.id = $1"))
            .bind(document_id)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        Ok(row.map(DealDocument::from))
    }

    pub async fn insert_document(
        &self,
        account_id: i64,
        deal_id: i64,
        vault_id: i64,
        folder_id: Option<i64>,
        d: &NewDocument,
        now: &str,
    ) -> Result<DealDocument> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO documents (account_id, deal_id, vault_id, folder_id, file_name, extension, size_bytes, \
             content_id, document_type_id, search_name, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(account_id)
        .bind(deal_id)
        .bind(vault_id)
        .bind(folder_id)
        .bind(&d.file_name)
        .bind(&d.extension)
        .bind(d.size_bytes)
        .bind(&d.content_id)
        .bind(d.document_type_id)
        .bind(fold_case(&d.file_name))
        .bind(now)
        .fetch_one(&mut *self.conn().await?)
        .await?;
        self.document(account_id, deal_id, id).await?.ok_or(StoreError::NotFound("document"))
    }

    // -----------------------------------------------------------------------------------------
    // Checklists and tasks
    // -----------------------------------------------------------------------------------------

    /// The checklists of a deal (optionally of one vault), each as a tree.
    pub async fn list_checklists(
        &self,
        account_id: i64,
        deal_id: i64,
        vault_id: Option<i64>,
    ) -> Result<Vec<DealChecklist>> {
        let mut s = Sql::new(
            "SELECT c.id, v.id AS vault_id, v.vault_type, v.title FROM checklists c JOIN vaults v ON v.id = c.vault_id \
             WHERE c.account_id = ",
        );
        s.push_bind(account_id).push(" AND c.deal_id = ").push_bind(deal_id);
        if let Some(v) = vault_id {
            s.push(" AND c.vault_id = ").push_bind(v);
        }
        s.push(" ORDER BY v.is_default DESC, c.id");
        let heads: Vec<(i64, i64, String, Option<String>)> =
            s.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = heads.iter().map(|h| h.0).collect();

        let mut s = Sql::new(
            "SELECT id, checklist_id, name, position, start_date, end_date FROM checklist_sections WHERE account_id = ",
        );
        s.push_bind(account_id).push(" AND checklist_id IN (");
        s.push_ids(&ids).push(") ORDER BY position, id");
        let sections: Vec<SectionRow> = s.build_query_as().fetch_all(&mut *self.conn().await?).await?;

        let mut s = Sql::new(TASK_SELECT);
        s.push(" WHERE t.account_id = ").push_bind(account_id).push(" AND t.checklist_id IN (");
        s.push_ids(&ids).push(") ORDER BY t.position, t.id");
        let rows: Vec<TaskRow> = s.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        let mut tasks: Vec<ChecklistTask> = rows.into_iter().map(ChecklistTask::from).collect();
        self.fill_task_details(&mut tasks).await?;

        let heads = heads
            .into_iter()
            .map(|(id, vid, vt, title)| ChecklistHead { id, vault: VaultRef { id: vid, vault_type: vt, title } })
            .collect();
        let sections = sections
            .into_iter()
            .map(|r| ChecklistSection {
                id: r.id,
                name: r.name,
                position: r.position,
                start_date: r.start_date,
                end_date: r.end_date,
                tasks: Vec::new(),
                checklist_id: r.checklist_id,
            })
            .collect();
        Ok(assemble_checklists(heads, sections, tasks))
    }

    /// Collaborators, document types and files of the tasks, in one query each.
    async fn fill_task_details(&self, tasks: &mut [ChecklistTask]) -> Result<()> {
        if tasks.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = tasks.iter().map(|t| t.id).collect();
        let mut s = Sql::new("SELECT task_id, user_id, email FROM checklist_task_collaborators WHERE task_id IN (");
        s.push_ids(&ids).push(") ORDER BY id");
        let collaborators: Vec<(i64, Option<i64>, Option<String>)> =
            s.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        let mut s = Sql::new(
            "SELECT tdt.task_id, dt.id, dt.name FROM checklist_task_document_types tdt \
             JOIN document_types dt ON dt.id = tdt.document_type_id WHERE tdt.task_id IN (",
        );
        s.push_ids(&ids).push(") ORDER BY dt.id");
        let types: Vec<(i64, i64, Option<String>)> = s.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        let mut s =
            Sql::new("SELECT task_id, id, document_id, name, origin FROM checklist_task_files WHERE task_id IN (");
        s.push_ids(&ids).push(") ORDER BY id");
        let files: Vec<TaskFileRow> = s.build_query_as().fetch_all(&mut *self.conn().await?).await?;

        let mut by_id: HashMap<i64, &mut ChecklistTask> = tasks.iter_mut().map(|t| (t.id, t)).collect();
        for (task_id, id, email) in collaborators {
            if let Some(t) = by_id.get_mut(&task_id) {
                t.collaborators.push(ChecklistCollaborator { id, email });
            }
        }
        for (task_id, id, name) in types {
            if let Some(t) = by_id.get_mut(&task_id) {
                t.document_types.push(ChecklistDocumentType { id, name });
            }
        }
        for (task_id, vault_resource_id, document_id, name, origin) in files {
            if let Some(t) = by_id.get_mut(&task_id) {
                t.files.push(ChecklistTaskFile { vault_resource_id, document_id, name, origin });
            }
        }
        Ok(())
    }

    /// A task of the account with its subtasks.
    pub async fn task(&self, account_id: i64, task_id: i64) -> Result<Option<ChecklistTask>> {
        let mut s = Sql::new(TASK_SELECT);
        s.push(" WHERE t.account_id = ").push_bind(account_id);
        s.push(" AND (t.id = ").push_bind(task_id).push(" OR t.parent_task_id = ").push_bind(task_id);
        s.push(") ORDER BY t.position, t.id");
        let rows: Vec<TaskRow> = s.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        let mut tasks: Vec<ChecklistTask> = rows.into_iter().map(ChecklistTask::from).collect();
        self.fill_task_details(&mut tasks).await?;
        let Some(pos) = tasks.iter().position(|t| t.id == task_id) else {
            return Ok(None);
        };
        let mut task = tasks.remove(pos);
        task.subtasks = tasks;
        Ok(Some(task))
    }

    /// Where a task of the account sits.
    pub async fn task_place(&self, account_id: i64, task_id: i64) -> Result<Option<TaskPlace>> {
        let row: Option<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT checklist_id, section_id, parent_task_id FROM checklist_tasks WHERE id = $1 AND account_id = $2",
        )
        .bind(task_id)
        .bind(account_id)
        .fetch_optional(&mut *self.conn().await?)
        .await?;
        Ok(row.map(|(checklist_id, section_id, parent_task_id)| TaskPlace { checklist_id, section_id, parent_task_id }))
    }

    /// The checklist of a section of the account.
    pub async fn section_checklist(&self, account_id: i64, section_id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT checklist_id FROM checklist_sections WHERE id = $1 AND account_id = $2")
            .bind(section_id)
            .bind(account_id)
            .fetch_optional(&mut *self.conn().await?)
            .await?)
    }

    pub async fn checklist_exists(&self, account_id: i64, checklist_id: i64) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM checklists WHERE id = $1 AND account_id = $2")
            .bind(checklist_id)
            .bind(account_id)
            .fetch_one(&mut *self.conn().await?)
            .await?;
        Ok(n > 0)
    }

    /// The checklist of a Deal Room of the account.
    pub async fn checklist_of_vault(&self, account_id: i64, vault_id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT id FROM checklists WHERE vault_id = $1 AND account_id = $2")
            .bind(vault_id)
            .bind(account_id)
            .fetch_optional(&mut *self.conn().await?)
            .await?)
    }

    /// True when the user is an active member of the account.
    pub async fn is_active_member(&self, account_id: i64, user_id: i64) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE account_id = $1 AND user_id = $2 AND status = 'active'",
        )
        .bind(account_id)
        .bind(user_id)
        .fetch_one(&mut *self.conn().await?)
        .await?;
        Ok(n > 0)
    }

    /// The ids among `ids` that name no document type.
    pub async fn unknown_document_types(&self, ids: &[i64]) -> Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut s = Sql::new("SELECT id FROM document_types WHERE id IN (");
        s.push_ids(ids).push(")");
        let known: Vec<i64> = s.build_query_scalar().fetch_all(&mut *self.conn().await?).await?;
        Ok(ids.iter().copied().filter(|id| !known.contains(id)).collect())
    }

    /// Creates a task at the end of its siblings; `place` was checked to be the account's.
    pub async fn insert_task(&self, account_id: i64, place: TaskPlace, t: &NewTask, now: &str) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        if self.backend() == Backend::Postgres {
            // Task creations on one checklist queue behind each other, so each reads the end of
            // its siblings after the previous one wrote (SQLite's write lock does this for it).
            sqlx::query("SELECT id FROM checklists WHERE id = $1 AND account_id = $2 FOR UPDATE")
                .bind(place.checklist_id)
                .bind(account_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let mut pos = Sql::new("SELECT COALESCE(MAX(position), 0) + 1 FROM checklist_tasks WHERE checklist_id = ");
        pos.push_bind(place.checklist_id);
        match (t.parent, place.section_id) {
            (TaskParent::Task(p), _) => {
                pos.push(" AND parent_task_id = ").push_bind(p);
            }
            (_, Some(sec)) => {
                pos.push(" AND parent_task_id IS NULL AND section_id = ").push_bind(sec);
            }
            (_, None) => {
                pos.push(" AND parent_task_id IS NULL AND section_id IS NULL");
            }
        }
        let position: i64 = pos.build_query_scalar().fetch_one(&mut *tx).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO checklist_tasks (account_id, checklist_id, section_id, parent_task_id, title, description, \
             status, is_completed, position, due_date, assignee_user_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11, $11) RETURNING id",
        )
        .bind(account_id)
        .bind(place.checklist_id)
        .bind(place.section_id)
        .bind(place.parent_task_id)
        .bind(&t.title)
        .bind(&t.description)
        .bind(t.status)
        .bind(position)
        .bind(&t.due_date)
        .bind(t.assigned_user_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for dt in &t.document_type_ids {
            sqlx::query("INSERT INTO checklist_task_document_types (task_id, document_type_id) VALUES ($1, $2)")
                .bind(id)
                .bind(dt)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Applies a task update; `false` when the task is not the account's.
    pub async fn update_task(&self, account_id: i64, task_id: i64, c: &TaskChanges, now: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let mut s = Sql::new("UPDATE checklist_tasks SET updated_at = ");
        s.push_bind(now.to_string());
        if let Some(t) = &c.title {
            s.push(", title = ").push_bind(t.clone());
        }
        if let Some(d) = &c.description {
            s.push(", description = ").push_bind(d.clone());
        }
        if let Some(st) = c.status {
            s.push(", status = ").push_bind(st.to_string());
        }
        if let Some(a) = c.assigned_user_id {
            s.push(", assignee_user_id = ").push_bind(a);
        }
        if let Some(d) = &c.due_date {
            s.push(", due_date = ").push_bind(d.clone());
        }
        if c.reopen {
            s.push(", is_completed = 0, completed_at = NULL");
        }
        s.push(" WHERE id = ").push_bind(task_id).push(" AND account_id = ").push_bind(account_id);
        let n = s.build().execute(&mut *tx).await?.rows_affected();
        if n == 0 {
            return Ok(false);
        }
        if let Some(types) = &c.document_type_ids {
            sqlx::query("DELETE FROM checklist_task_document_types WHERE task_id = $1")
                .bind(task_id)
                .execute(&mut *tx)
                .await?;
            for dt in types {
                sqlx::query("INSERT INTO checklist_task_document_types (task_id, document_type_id) VALUES ($1, $2)")
                    .bind(task_id)
                    .bind(dt)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Marks a task complete (keeping the first completion time); `false` when not the account's.
    pub async fn complete_task(&self, account_id: i64, task_id: i64, now: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE checklist_tasks SET is_completed = 1, completed_at = COALESCE(completed_at, $1), \
             updated_at = CASE WHEN is_completed = 1 THEN updated_at ELSE $2 END WHERE id = $3 AND account_id = $4",
        )
        .bind(now)
        .bind(now)
        .bind(task_id)
        .bind(account_id)
        .execute(&mut *self.conn().await?)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Adds a section to a checklist of the account (demo data, tests).
    pub async fn insert_checklist_section(
        &self,
        account_id: i64,
        checklist_id: i64,
        name: &str,
        position: i64,
        dates: (Option<&str>, Option<&str>),
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO checklist_sections (account_id, checklist_id, name, position, start_date, end_date) \
             SELECT account_id, id, $1, $2, $3, $4 FROM checklists WHERE id = $5 AND account_id = $6 RETURNING id",
        )
        .bind(name)
        .bind(position)
        .bind(dates.0)
        .bind(dates.1)
        .bind(checklist_id)
        .bind(account_id)
        .fetch_one(&mut *self.conn().await?)
        .await?)
    }

    /// Sets the responsible role and team of a task of the account (demo data).
    pub async fn set_task_assignment(
        &self,
        account_id: i64,
        task_id: i64,
        role: Option<&str>,
        team: Option<(&str, i64, Option<&str>)>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE checklist_tasks SET role = $1, team_type = $2, team_id = $3, team_name = $4 \
             WHERE id = $5 AND account_id = $6",
        )
        .bind(role)
        .bind(team.map(|t| t.0))
        .bind(team.map(|t| t.1))
        .bind(team.and_then(|t| t.2))
        .bind(task_id)
        .bind(account_id)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    /// Loops a person into a task (demo data).
    pub async fn add_task_collaborator(&self, task_id: i64, user_id: Option<i64>, email: &str) -> Result<()> {
        sqlx::query("INSERT INTO checklist_task_collaborators (task_id, user_id, email) VALUES ($1, $2, $3)")
            .bind(task_id)
            .bind(user_id)
            .bind(email)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }

    /// Links a document to a task of the same account; returns the `vault_resource_id`.
    pub async fn link_task_file(&self, account_id: i64, task_id: i64, document_id: i64, origin: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO checklist_task_files (task_id, document_id, name, origin) \
             SELECT t.id, d.id, d.file_name, $1 FROM checklist_tasks t JOIN documents d ON d.account_id = t.account_id \
             WHERE t.id = $2 AND d.id = $3 AND t.account_id = $4 RETURNING id",
        )
        .bind(origin)
        .bind(task_id)
        .bind(document_id)
        .bind(account_id)
        .fetch_one(&mut *self.conn().await?)
        .await?)
    }

    // -----------------------------------------------------------------------------------------
    // Memos
    // -----------------------------------------------------------------------------------------

    pub async fn list_memos(&self, account_id: i64, deal_id: i64, q: &MemoQuery) -> Result<(Vec<MemoRecord>, i64)> {
        let filter = |s: &mut Sql| {
            s.push(" WHERE m.account_id = ").push_bind(account_id);
            s.push(" AND m.deal_id = ").push_bind(deal_id);
            if let Some(t) = &q.search {
                s.push_contains("m.search_title", &fold_case(t));
            }
            if let Some(t) = &q.title {
                s.push(" AND m.title = ").push_bind(t.clone());
            }
            if let Some(st) = q.status {
                s.push(" AND m.status = ").push_bind(st.to_string());
            }
            if let Some(mt) = q.memo_type {
                s.push(" AND m.memo_type = ").push_bind(mt.to_string());
            }
            match q.pdf_ready {
                Some(true) => {
                    s.push(" AND m.pdf_generation_status = ").push_bind(PDF_COMPLETED.to_string());
                }
                Some(false) => {
                    s.push(" AND m.pdf_generation_status <> ").push_bind(PDF_COMPLETED.to_string());
                }
                None => {}
            }
            if let Some(v) = q.vault_id {
                s.push(" AND EXISTS (SELECT 1 FROM memo_vaults mv WHERE mv.memo_id = m.id AND mv.vault_id = ")
                    .push_bind(v)
                    .push(")");
            }
        };
        let mut count = Sql::new("SELECT COUNT(*) FROM memos m");
        filter(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&mut *self.conn().await?).await?;
        let mut s = Sql::new(MEMO_SELECT);
        filter(&mut s);
        s.push(" ORDER BY m.id LIMIT ").push_bind(i64::from(q.limit) + 1);
        s.push(" OFFSET ").push_bind(offset_i64(q.offset));
        let rows: Vec<MemoRow> = s.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        let mut memos: Vec<MemoRecord> = rows.into_iter().map(MemoRecord::from).collect();
        self.fill_memo_vaults(account_id, &mut memos).await?;
        Ok((memos, total))
    }

    async fn fill_memo_vaults(&self, account_id: i64, memos: &mut [MemoRecord]) -> Result<()> {
        if memos.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = memos.iter().map(|m| m.id).collect();
        let mut s = Sql::new(
            "SELECT mv.memo_id, v.id, v.vault_type, v.title FROM memo_vaults mv JOIN vaults v ON v.id = mv.vault_id \
             WHERE v.account_id = ",
        );
        s.push_bind(account_id).push(" AND mv.memo_id IN (");
        s.push_ids(&ids).push(") ORDER BY v.id");
        let rows: Vec<(i64, i64, String, Option<String>)> =
            s.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        for (memo_id, id, vault_type, title) in rows {
            if let Some(m) = memos.iter_mut().find(|m| m.id == memo_id) {
                m.vaults.push(VaultRef { id, vault_type, title });
            }
        }
        Ok(())
    }

    pub async fn memo_by_uuid(&self, account_id: i64, deal_id: i64, uuid: &str) -> Result<Option<MemoRecord>> {
        let row: Option<MemoRow> =
            sqlx::query_as(sqlf!("{MEMO_SELECT} WHERE m.uuid = $1 AND m.account_id = $2 AND m.deal_id = $3"))
                .bind(uuid)
                .bind(account_id)
                .bind(deal_id)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
        let mut memos: Vec<MemoRecord> = row.into_iter().map(MemoRecord::from).collect();
        self.fill_memo_vaults(account_id, &mut memos).await?;
        Ok(memos.pop())
    }

    /// A memo by id alone, for a signed link.
    pub async fn memo_for_link(&self, memo_id: i64) -> Result<Option<MemoRecord>> {
        let row: Option<MemoRow> = sqlx::query_as(sqlf!("{MEMO_SELECT} WHERE m.id = $1"))
            .bind(memo_id)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        Ok(row.map(MemoRecord::from))
    }

    /// Records that a memo's PDF is in the data directory under `content_id`.
    pub async fn set_memo_pdf(&self, memo_id: i64, content_id: &str) -> Result<()> {
        sqlx::query("UPDATE memos SET pdf_content_id = $1 WHERE id = $2")
            .bind(content_id)
            .bind(memo_id)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }

    /// Stores a memo of a deal of the account (demo data, tests). A published memo's PDF is
    /// ready to render; a draft's is not.
    pub async fn insert_memo(&self, account_id: i64, deal_id: i64, m: &NewMemo, now: &str) -> Result<MemoRecord> {
        let mut tx = self.begin_write().await?;
        let published = m.status == "published";
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO memos (uuid, account_id, deal_id, title, memo_type, status, body, created_by_user_id, \
             pdf_generation_status, published_at, created_at, updated_at, search_title) \
             SELECT $1, owner_account_id, id, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10 FROM deals \
             WHERE id = $11 AND owner_account_id = $12 RETURNING id",
        )
        .bind(&m.uuid)
        .bind(&m.title)
        .bind(m.memo_type)
        .bind(m.status)
        .bind(&m.body)
        .bind(m.created_by_user_id)
        .bind(if published { PDF_COMPLETED } else { "pending" })
        .bind(if published { Some(now) } else { None })
        .bind(now)
        .bind(fold_case(&m.title))
        .bind(deal_id)
        .bind(account_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::on_unique(e, "memo"))?;
        for v in &m.vault_ids {
            sqlx::query(
                "INSERT INTO memo_vaults (memo_id, vault_id) SELECT $1, id FROM vaults \
                 WHERE id = $2 AND account_id = $3 AND deal_id = $4",
            )
            .bind(id)
            .bind(v)
            .bind(account_id)
            .bind(deal_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.memo_by_uuid(account_id, deal_id, &m.uuid).await?.ok_or(StoreError::NotFound("memo"))
    }

    // -----------------------------------------------------------------------------------------
    // Deal index
    // -----------------------------------------------------------------------------------------

    /// A page of the metric catalog and the number matching.
    pub async fn metric_definitions(&self, q: &MetricQuery) -> Result<(Vec<MetricDefinition>, i64)> {
        let filter = |s: &mut Sql| {
            s.push(" WHERE 1 = 1");
            if let Some(l) = &q.metric_label {
                s.push_contains("LOWER(metric_label)", &fold_case(l));
            }
            if let Some(c) = q.category_id {
                s.push(" AND category_id = ").push_bind(c);
            }
        };
        let mut count = Sql::new("SELECT COUNT(*) FROM index_metric_definitions");
        filter(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&mut *self.conn().await?).await?;
        let mut s = Sql::new(format!("SELECT {METRIC_COLUMNS} FROM index_metric_definitions"));
        filter(&mut s);
        let offset = u64::from(q.page.saturating_sub(1)) * u64::from(q.limit);
        s.push(" ORDER BY id LIMIT ").push_bind(i64::from(q.limit));
        s.push(" OFFSET ").push_bind(offset_i64(offset));
        let rows: Vec<MetricRow> = s.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        Ok((rows.into_iter().map(MetricDefinition::from).collect(), total))
    }

    pub async fn metrics(&self, ids: &[i64]) -> Result<Vec<MetricDefinition>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut s = Sql::new(format!("SELECT {METRIC_COLUMNS} FROM index_metric_definitions WHERE id IN ("));
        s.push_ids(ids).push(") ORDER BY id");
        let rows: Vec<MetricRow> = s.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        Ok(rows.into_iter().map(MetricDefinition::from).collect())
    }

    /// Metrics whose value names an entity.
    pub async fn identifying_metrics(&self) -> Result<Vec<MetricDefinition>> {
        let rows: Vec<MetricRow> = sqlx::query_as(sqlf!(
            "SELECT {METRIC_COLUMNS} FROM index_metric_definitions WHERE identifying = 1 ORDER BY id"
        ))
        .fetch_all(&mut *self.conn().await?)
        .await?;
        Ok(rows.into_iter().map(MetricDefinition::from).collect())
    }

    /// Non-property entities of a deal of the account (sponsors).
    pub async fn index_entities(&self, account_id: i64, deal_id: i64) -> Result<Vec<IndexEntityRow>> {
        Ok(sqlx::query_as(
            "SELECT id, entity_type, name FROM index_entities WHERE account_id = $1 AND deal_id = $2 ORDER BY id",
        )
        .bind(account_id)
        .bind(deal_id)
        .fetch_all(&mut *self.conn().await?)
        .await?)
    }

    pub async fn insert_index_entity(
        &self,
        account_id: i64,
        deal_id: i64,
        entity_type: &str,
        name: &str,
        now: &str,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO index_entities (account_id, deal_id, entity_type, name, created_at) \
             SELECT owner_account_id, id, $1, $2, $3 FROM deals WHERE id = $4 AND owner_account_id = $5 RETURNING id",
        )
        .bind(entity_type)
        .bind(name)
        .bind(now)
        .bind(deal_id)
        .bind(account_id)
        .fetch_one(&mut *self.conn().await?)
        .await?)
    }

    /// Group refs of a deal's values still waiting for their entity, with their metrics' entity type.
    pub async fn pending_groups(&self, account_id: i64, deal_id: i64) -> Result<Vec<(String, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT group_ref, MIN(entity_type) FROM index_facts WHERE account_id = $1 AND deal_id = $2 \
             AND group_ref IS NOT NULL AND entity_ref IS NULL GROUP BY group_ref ORDER BY group_ref",
        )
        .bind(account_id)
        .bind(deal_id)
        .fetch_all(&mut *self.conn().await?)
        .await?)
    }

    pub async fn fact(&self, account_id: i64, deal_id: i64, sot_id: i64) -> Result<Option<FactRecord>> {
        let row: Option<FactRow> =
            sqlx::query_as(sqlf!("{} WHERE f.id = $1 AND f.account_id = $2 AND f.deal_id = $3", fact_select()))
                .bind(sot_id)
                .bind(account_id)
                .bind(deal_id)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
        Ok(row.map(FactRecord::from))
    }

    /// Facts of a deal of the account, all or those with the given ids, in id order.
    pub async fn facts(&self, account_id: i64, deal_id: i64, ids: Option<&[i64]>) -> Result<Vec<FactRecord>> {
        let mut s = Sql::new(fact_select());
        s.push(" WHERE f.account_id = ").push_bind(account_id).push(" AND f.deal_id = ").push_bind(deal_id);
        if let Some(ids) = ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            s.push(" AND f.id IN (");
            s.push_ids(ids).push(")");
        }
        s.push(" ORDER BY f.id");
        let rows: Vec<FactRow> = s.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        Ok(rows.into_iter().map(FactRecord::from).collect())
    }

    pub async fn observation(&self, account_id: i64, deal_id: i64, id: i64) -> Result<Option<ObservationRecord>> {
        let row: Option<ObservationRow> =
            sqlx::query_as(sqlf!("{} WHERE o.id = $1 AND o.account_id = $2 AND o.deal_id = $3", observation_select()))
                .bind(id)
                .bind(account_id)
                .bind(deal_id)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
        Ok(row.map(ObservationRecord::from))
    }

    /// A page (`(page, limit)`, 1-based) of the observations of one metric of a deal (optionally
    /// one slot or one entity), strongest first, with the number matching.
    pub async fn list_observations(
        &self,
        account_id: i64,
        deal_id: i64,
        metric_id: i64,
        slot: Option<&str>,
        entity_ref: Option<&str>,
        (page, limit): (u32, u32),
    ) -> Result<(Vec<ObservationRecord>, i64)> {
        let filter = |s: &mut Sql| {
            s.push(" WHERE o.account_id = ").push_bind(account_id);
            s.push(" AND o.deal_id = ").push_bind(deal_id);
            s.push(" AND o.metric_id = ").push_bind(metric_id);
            if let Some(slot) = slot {
                s.push(" AND o.slot = ").push_bind(slot.to_string());
            }
            if let Some(e) = entity_ref {
                s.push(" AND o.entity_ref = ").push_bind(e.to_string());
            }
        };
        let mut count = Sql::new("SELECT COUNT(*) FROM index_observations o");
        filter(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&mut *self.conn().await?).await?;
        let mut s = Sql::new(observation_select());
        filter(&mut s);
        let offset = u64::from(page.saturating_sub(1)) * u64::from(limit);
        s.push(" ORDER BY o.weight DESC, o.confidence DESC, o.id LIMIT ").push_bind(i64::from(limit));
        s.push(" OFFSET ").push_bind(offset_i64(offset));
        let rows: Vec<ObservationRow> = s.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        Ok((rows.into_iter().map(ObservationRecord::from).collect(), total))
    }

    /// Records a candidate value and applies the promotion rule to its slot, in one
    /// transaction: the slot's canonical value follows its strongest observation (highest
    /// weight, then the newest), unless a person fixed the value by hand (`manual`), which
    /// only another explicit change replaces.
    pub async fn record_observation(
        &self,
        account_id: i64,
        deal_id: i64,
        o: &NewObservation,
        now: &str,
    ) -> Result<RecordedObservation> {
        let slot = o.slot();
        let mut tx = self.begin_write().await?;
        let observation_id: i64 = sqlx::query_scalar(
            "INSERT INTO index_observations (account_id, deal_id, metric_id, slot, entity_type, entity_id, entity_ref, \
             group_ref, value_text, original_text, context, summary, period_type, period_value, confidence, weight, \
             source_type, document_id, pages, created_by_user_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
             RETURNING id",
        )
        .bind(account_id)
        .bind(deal_id)
        .bind(o.metric_id)
        .bind(&slot)
        .bind(&o.entity_type)
        .bind(o.entity_id)
        .bind(&o.entity_ref)
        .bind(&o.group_ref)
        .bind(&o.value_text)
        .bind(&o.original_text)
        .bind(&o.context)
        .bind(&o.summary)
        .bind(&o.period_type)
        .bind(&o.period_value)
        .bind(o.confidence)
        .bind(o.weight)
        .bind(o.source_type)
        .bind(o.document_id)
        .bind(pages_to_text(&o.pages))
        .bind(o.created_by_user_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;

        let current: Option<(i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT id, origin, observation_id FROM index_facts WHERE account_id = $1 AND deal_id = $2 \
             AND metric_id = $3 AND slot = $4",
        )
        .bind(account_id)
        .bind(deal_id)
        .bind(o.metric_id)
        .bind(&slot)
        .fetch_optional(&mut *tx)
        .await?;
        let best: i64 = sqlx::query_scalar(
            "SELECT id FROM index_observations WHERE account_id = $1 AND deal_id = $2 AND metric_id = $3 AND slot = $4 \
             ORDER BY weight DESC, id DESC LIMIT 1",
        )
        .bind(account_id)
        .bind(deal_id)
        .bind(o.metric_id)
        .bind(&slot)
        .fetch_one(&mut *tx)
        .await?;
        let written = match current {
            None => {
                let origin = if o.source_type == SOURCE_USER_INPUT { ORIGIN_USER_INPUT } else { ORIGIN_EXTRACTED };
                write_fact_from_observation(&mut tx, account_id, deal_id, None, best, origin, now).await?;
                true
            }
            Some((_, origin, _)) if origin == ORIGIN_MANUAL => false,
            Some((_, _, Some(obs))) if obs == best => {
                // The canonical value stands, but a new disagreeing candidate may call for review.
                refresh_review_flag(&mut tx, account_id, deal_id, o.metric_id, &slot).await?;
                false
            }
            Some((fact_id, _, _)) => {
                let origin = if o.source_type == SOURCE_USER_INPUT { ORIGIN_USER_INPUT } else { ORIGIN_EXTRACTED };
                write_fact_from_observation(&mut tx, account_id, deal_id, Some(fact_id), best, origin, now).await?;
                true
            }
        };
        tx.commit().await?;
        let fact: FactRecord = sqlx::query_as::<_, FactRow>(sqlf!(
            "{} WHERE f.account_id = $1 AND f.deal_id = $2 AND f.metric_id = $3 AND f.slot = $4",
            fact_select()
        ))
        .bind(account_id)
        .bind(deal_id)
        .bind(o.metric_id)
        .bind(&slot)
        .fetch_one(&mut *self.conn().await?)
        .await?
        .into();
        Ok(RecordedObservation { observation_id, fact, fact_written: written })
    }

    /// Replaces a fact's value with free text: a manual value, without document provenance.
    pub async fn set_fact_value(
        &self,
        account_id: i64,
        deal_id: i64,
        fact: &FactRecord,
        value: &str,
        now: &str,
    ) -> Result<bool> {
        let search = fact_search_text(
            &fact.metric,
            value,
            fact.context.as_deref(),
            fact.summary.as_deref(),
            fact.period_value.as_deref(),
        );
        let n = sqlx::query(
            "UPDATE index_facts SET value_text = $1, source_type = $2, source_id = NULL, observation_id = NULL, \
             document_id = NULL, pages = NULL, weight = NULL, origin = $3, needs_review = 0, search_text = $4, \
             updated_at = $5 WHERE id = $6 AND account_id = $7 AND deal_id = $8",
        )
        .bind(value)
        .bind(SOURCE_MANUAL)
        .bind(ORIGIN_MANUAL)
        .bind(search)
        .bind(now)
        .bind(fact.sot_id)
        .bind(account_id)
        .bind(deal_id)
        .execute(&mut *self.conn().await?)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Makes an observation of the fact's slot its canonical value, keeping its provenance.
    pub async fn promote_observation(
        &self,
        account_id: i64,
        deal_id: i64,
        fact_id: i64,
        observation_id: i64,
        now: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        write_fact_from_observation(&mut tx, account_id, deal_id, Some(fact_id), observation_id, ORIGIN_PROMOTED, now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Facts of a deal that match any of `terms`, with the engine's rank and the number of
    /// terms each matches. Terms are plain words (letters and digits only).
    ///
    /// SQLite: FTS5 over `search_text` with the Porter stemmer; the strength is `-bm25()`.
    /// PostgreSQL: `to_tsvector('english', …)` (served by the GIN index) against the terms as
    /// an OR query built from `plainto_tsquery`; the strength is `ts_rank`.
    pub async fn search_facts(&self, account_id: i64, deal_id: i64, terms: &[String]) -> Result<Vec<FactHit>> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let (ranked, per_term) = match self.backend() {
            Backend::Sqlite => {
                let any: String = terms.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(" OR ");
                let mut s = Sql::new(
                    "SELECT f.id, -bm25(index_fact_fts) FROM index_fact_fts JOIN index_facts f \
                     ON f.id = index_fact_fts.rowid WHERE index_fact_fts MATCH ",
                );
                s.push_bind(any).push(" AND f.account_id = ").push_bind(account_id);
                s.push(" AND f.deal_id = ").push_bind(deal_id);
                let mut t = Sql::new("");
                for (i, term) in terms.iter().enumerate() {
                    if i > 0 {
                        t.push(" UNION ALL ");
                    }
                    t.push(format_args!(
                        "SELECT f.id, CAST({i} AS BIGINT) FROM index_fact_fts JOIN index_facts f \
                         ON f.id = index_fact_fts.rowid WHERE index_fact_fts MATCH "
                    ));
                    t.push_bind(format!("\"{term}\"")).push(" AND f.account_id = ").push_bind(account_id);
                    t.push(" AND f.deal_id = ").push_bind(deal_id);
                }
                (s, t)
            }
            Backend::Postgres => {
                let mut s = Sql::new(
                    "SELECT f.id, CAST(ts_rank(to_tsvector('english', f.search_text), q.query) AS DOUBLE PRECISION) \
                     FROM index_facts f CROSS JOIN (SELECT CAST(replace(CAST(plainto_tsquery('english', ",
                );
                s.push_bind(terms.join(" "));
                s.push(") AS TEXT), '&', '|') AS tsquery) AS query) q WHERE f.account_id = ").push_bind(account_id);
                s.push(" AND f.deal_id = ").push_bind(deal_id);
                s.push(" AND to_tsvector('english', f.search_text) @@ q.query");
                let mut t = Sql::new("");
                for (i, term) in terms.iter().enumerate() {
                    if i > 0 {
                        t.push(" UNION ALL ");
                    }
                    t.push(format_args!("SELECT f.id, CAST({i} AS BIGINT) FROM index_facts f WHERE f.account_id = "));
                    t.push_bind(account_id).push(" AND f.deal_id = ").push_bind(deal_id);
                    t.push(" AND to_tsvector('english', f.search_text) @@ plainto_tsquery('english', ")
                        .push_bind(term.clone())
                        .push(")");
                }
                (s, t)
            }
        };
        let ranked: Vec<(i64, f64)> = ranked.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        let matches: Vec<(i64, i64)> = per_term.build_query_as().fetch_all(&mut *self.conn().await?).await?;
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for (fact_id, _) in matches {
            *counts.entry(fact_id).or_default() += 1;
        }
        Ok(ranked
            .into_iter()
            .map(|(fact_id, strength)| FactHit {
                fact_id,
                strength,
                matched_terms: counts.get(&fact_id).copied().unwrap_or(0),
            })
            .collect())
    }
}

/// Gives every shared vault of the deal that lacks one its checklist.
async fn ensure_checklists(tx: &mut WriteTx, account_id: i64, deal_id: i64, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO checklists (account_id, deal_id, vault_id, created_at) \
         SELECT v.account_id, v.deal_id, v.id, $1 FROM vaults v WHERE v.account_id = $2 AND v.deal_id = $3 \
         AND v.vault_type = 'shared' AND NOT EXISTS (SELECT 1 FROM checklists c WHERE c.vault_id = v.id) \
         ON CONFLICT DO NOTHING",
    )
    .bind(now)
    .bind(account_id)
    .bind(deal_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes the canonical value of an observation's slot from that observation (inserting the
/// fact when `fact_id` is `None`).
async fn write_fact_from_observation(
    tx: &mut WriteTx,
    account_id: i64,
    deal_id: i64,
    fact_id: Option<i64>,
    observation_id: i64,
    origin: &str,
    now: &str,
) -> Result<()> {
    let o: ObservationRecord = sqlx::query_as::<_, ObservationRow>(sqlf!(
        "{} WHERE o.id = $1 AND o.account_id = $2 AND o.deal_id = $3",
        observation_select()
    ))
    .bind(observation_id)
    .bind(account_id)
    .bind(deal_id)
    .fetch_one(&mut **tx)
    .await?
    .into();
    let slot = levd_domain::deal_data::fact_slot(o.entity_ref.as_deref(), o.group_ref.as_deref());
    let search = fact_search_text(
        &o.metric,
        &o.value_text,
        o.context.as_deref(),
        o.summary.as_deref(),
        o.period_value.as_deref(),
    );
    let source_id = o.document.document_id.map(|d| d.to_string());
    let pages = pages_to_text(&o.document.pages);
    match fact_id {
        None => {
            sqlx::query(
                "INSERT INTO index_facts (account_id, deal_id, metric_id, slot, entity_type, entity_id, entity_ref, \
                 group_ref, value_text, context, summary, period_type, period_value, source_type, source_id, \
                 observation_id, document_id, pages, weight, origin, needs_review, search_text, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, 0, \
                 $21, $22, $22)",
            )
            .bind(account_id)
            .bind(deal_id)
            .bind(o.metric.id)
            .bind(&slot)
            .bind(&o.entity_type)
            .bind(o.entity_id)
            .bind(&o.entity_ref)
            .bind(&o.group_ref)
            .bind(&o.value_text)
            .bind(&o.context)
            .bind(&o.summary)
            .bind(&o.period_type)
            .bind(&o.period_value)
            .bind(&o.source_type)
            .bind(source_id)
            .bind(o.id)
            .bind(o.document.document_id)
            .bind(pages)
            .bind(o.weight)
            .bind(origin)
            .bind(search)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Some(id) => {
            sqlx::query(
                "UPDATE index_facts SET value_text = $1, context = $2, summary = $3, period_type = $4, \
                 period_value = $5, source_type = $6, source_id = $7, observation_id = $8, document_id = $9, \
                 pages = $10, weight = $11, origin = $12, search_text = $13, updated_at = $14 \
                 WHERE id = $15 AND account_id = $16 AND deal_id = $17",
            )
            .bind(&o.value_text)
            .bind(&o.context)
            .bind(&o.summary)
            .bind(&o.period_type)
            .bind(&o.period_value)
            .bind(&o.source_type)
            .bind(source_id)
            .bind(o.id)
            .bind(o.document.document_id)
            .bind(pages)
            .bind(o.weight)
            .bind(origin)
            .bind(search)
            .bind(now)
            .bind(id)
            .bind(account_id)
            .bind(deal_id)
            .execute(&mut **tx)
            .await?;
        }
    }
    refresh_review_flag(tx, account_id, deal_id, o.metric.id, &slot).await
}

/// A value needs review when it came from a low-confidence extraction, or when the slot's
/// candidates disagree and no person has chosen between them.
async fn refresh_review_flag(
    tx: &mut WriteTx,
    account_id: i64,
    deal_id: i64,
    metric_id: i64,
    slot: &str,
) -> Result<()> {
    let (origin, confidence): (String, Option<f64>) = sqlx::query_as(
        "SELECT f.origin, o.confidence FROM index_facts f LEFT JOIN index_observations o ON o.id = f.observation_id \
         WHERE f.account_id = $1 AND f.deal_id = $2 AND f.metric_id = $3 AND f.slot = $4",
    )
    .bind(account_id)
    .bind(deal_id)
    .bind(metric_id)
    .bind(slot)
    .fetch_one(&mut **tx)
    .await?;
    let distinct: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT value_text) FROM index_observations WHERE account_id = $1 AND deal_id = $2 \
         AND metric_id = $3 AND slot = $4",
    )
    .bind(account_id)
    .bind(deal_id)
    .bind(metric_id)
    .bind(slot)
    .fetch_one(&mut **tx)
    .await?;
    let chosen_by_person = origin == ORIGIN_MANUAL || origin == ORIGIN_PROMOTED || origin == ORIGIN_USER_INPUT;
    let needs_review = !chosen_by_person && (distinct > 1 || confidence.is_some_and(|c| c < REVIEW_CONFIDENCE));
    sqlx::query(
        "UPDATE index_facts SET needs_review = $1 WHERE account_id = $2 AND deal_id = $3 AND metric_id = $4 AND slot = $5",
    )
    .bind(i64::from(needs_review))
    .bind(account_id)
    .bind(deal_id)
    .bind(metric_id)
    .bind(slot)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
