//! Notes, for every kind of parent. Callers check that the parent exists in the account first;
//! every query here is filtered by account, parent type and parent id as well.
use sqlx::FromRow;

use crate::{Result, Sql, Store};

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct NoteRow {
    pub id: i64,
    pub text: String,
    pub created_by_user_id: Option<i64>,
    pub created_by_name: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

crate::readers::from_sqlite!(NoteRow { id, text, created_by_user_id, created_by_name, created_at, updated_at });

const NOTE_SELECT: &str = "SELECT n.id, n.text, n.created_by_user_id, \
     CASE WHEN u.id IS NULL THEN NULL ELSE TRIM(COALESCE(u.first_name, '') || ' ' || COALESCE(u.last_name, '')) END AS created_by_name, \
     n.created_at, n.updated_at FROM notes n LEFT JOIN users u ON u.id = n.created_by_user_id";

impl Store {
    /// A page of notes of one parent in id order (`after_id` for the cursor), with the total.
    pub async fn list_notes(
        &self,
        account_id: i64,
        parent_type: &str,
        parent_id: i64,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<NoteRow>, i64)> {
        let filter = |q: &mut Sql| {
            q.push(" WHERE n.account_id = ").push_bind(account_id);
            q.push(" AND n.parent_type = ").push_bind(parent_type.to_string());
            q.push(" AND n.parent_id = ").push_bind(parent_id);
        };
        let count = Sql::new("SELECT COUNT(*) FROM notes n");
        self.keyset_page(count, Sql::new(NOTE_SELECT), filter, "n.id", after_id, limit).await
    }

    pub async fn note(
        &self,
        account_id: i64,
        parent_type: &str,
        parent_id: i64,
        note_id: i64,
    ) -> Result<Option<NoteRow>> {
        let mut q = Sql::new(NOTE_SELECT);
        q.push(" WHERE n.id = ").push_bind(note_id);
        q.push(" AND n.account_id = ").push_bind(account_id);
        q.push(" AND n.parent_type = ").push_bind(parent_type.to_string());
        q.push(" AND n.parent_id = ").push_bind(parent_id);
        Ok(q.build_query_as().fetch_optional(&mut *self.conn().await?).await?)
    }

    pub async fn insert_note(
        &self,
        account_id: i64,
        parent_type: &str,
        parent_id: i64,
        user_id: i64,
        text: &str,
        now: &str,
    ) -> Result<NoteRow> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO notes (account_id, parent_type, parent_id, text, created_by_user_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(account_id)
        .bind(parent_type)
        .bind(parent_id)
        .bind(text)
        .bind(user_id)
        .bind(now)
        .fetch_one(&mut *self.conn().await?)
        .await?;
        self.note(account_id, parent_type, parent_id, id).await?.ok_or(crate::StoreError::NotFound("note"))
    }

    /// Replaces a note's text; `None` when the note is not under that parent in the account.
    pub async fn update_note(
        &self,
        account_id: i64,
        parent_type: &str,
        parent_id: i64,
        note_id: i64,
        text: &str,
        now: &str,
    ) -> Result<Option<NoteRow>> {
        let mut q = Sql::new("UPDATE notes SET text = ");
        q.push_bind(text.to_owned()).push(", updated_at = ").push_bind(now.to_owned());
        push_one_note(&mut q, account_id, parent_type, parent_id, note_id);
        let n = q.build().execute(&mut *self.conn().await?).await?.rows_affected();
        if n == 0 {
            return Ok(None);
        }
        self.note(account_id, parent_type, parent_id, note_id).await
    }

    /// Deletes a note for good; `false` when it was not there.
    pub async fn delete_note(&self, account_id: i64, parent_type: &str, parent_id: i64, note_id: i64) -> Result<bool> {
        let mut q = Sql::new("DELETE FROM notes");
        push_one_note(&mut q, account_id, parent_type, parent_id, note_id);
        let n = q.build().execute(&mut *self.conn().await?).await?.rows_affected();
        Ok(n > 0)
    }
}

/// Narrows a statement to one note of a parent in an account.
fn push_one_note(q: &mut Sql, account_id: i64, parent_type: &str, parent_id: i64, note_id: i64) {
    q.push(" WHERE id = ").push_bind(note_id).push(" AND account_id = ").push_bind(account_id);
    q.push(" AND parent_type = ").push_bind(parent_type.to_owned()).push(" AND parent_id = ").push_bind(parent_id);
}
