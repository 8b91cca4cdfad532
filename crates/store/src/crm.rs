//! Companies, contacts with their phones, and the credit pool (balance and ledger) that pays for
//! contact unlocks. Every statement on account data is filtered by the owning account.
//!
//! Transactions that change a company's primary contact lock the company row first, then the
//! contact rows, so two of them can never wait on each other. Every transaction starts with a
//! write, so on SQLite it holds the write lock from its first statement (a read that later turns
//! into a write can fail with a busy snapshot).
use std::collections::HashMap;

use levd_domain::crm::{
    Company, CompanyChanges, Contact, ContactChanges, ContactOrigin, ContactUpdate, CreditLedgerEntry, CreditPool,
    NewCompany, NewContact, Phone, PhoneInput, Unlock, email_change_allowed, join_contact_types, split_contact_types,
};
use levd_domain::input::Patch;
use levd_domain::query::{Filter, FilterOp, FilterValue, ListQuery, Paging};
use sqlx::{AnyConnection, FromRow};

use crate::{Result, Sql, Store, StoreError};

#[derive(Debug, Clone, FromRow)]
struct CompanyRow {
    id: i64,
    owner_account_id: i64,
    name: String,
    company_type: String,
    website: Option<String>,
    address: Option<String>,
    city: Option<String>,
    state: Option<String>,
    zip: Option<String>,
    org_id: Option<i64>,
    linkedin_url: Option<String>,
    is_connected: i64,
    created_at: String,
    updated_at: String,
}

crate::readers::from_sqlite!(CompanyRow {
    id,
    owner_account_id,
    name,
    company_type,
    website,
    address,
    city,
    state,
    zip,
    org_id,
    linkedin_url,
    is_connected,
    created_at,
    updated_at
});

impl From<CompanyRow> for Company {
    fn from(r: CompanyRow) -> Company {
        Company {
            id: r.id,
            name: Some(r.name),
            website: r.website,
            address: r.address,
            city: r.city,
            state: r.state,
            zip: r.zip,
            org_id: r.org_id,
            owner_account_id: r.owner_account_id,
            is_connected: r.is_connected != 0,
            linkedin_url: r.linkedin_url,
            created_at: r.created_at,
            updated_at: r.updated_at,
            company_type: r.company_type,
        }
    }
}

const COMPANY_COLUMNS: &str = "id, owner_account_id, name, company_type, website, address, city, state, zip, org_id, \
     linkedin_url, is_connected, created_at, updated_at";

#[derive(Debug, Clone, FromRow)]
struct ContactRow {
    id: i64,
    owner_account_id: i64,
    company_id: i64,
    contact_types: String,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    title: Option<String>,
    department: Option<String>,
    address: Option<String>,
    address2: Option<String>,
    city: Option<String>,
    state: Option<String>,
    zip: Option<String>,
    linkedin_url: Option<String>,
    photo_url: Option<String>,
    is_primary: i64,
    is_connected: i64,
    is_locked: i64,
    created_at: String,
    updated_at: String,
}

crate::readers::from_sqlite!(ContactRow {
    id,
    owner_account_id,
    company_id,
    contact_types,
    first_name,
    last_name,
    email,
    title,
    department,
    address,
    address2,
    city,
    state,
    zip,
    linkedin_url,
    photo_url,
    is_primary,
    is_connected,
    is_locked,
    created_at,
    updated_at
});

impl ContactRow {
    fn into_contact(self, phones: Vec<Phone>) -> Contact {
        let contact_types = split_contact_types(&self.contact_types);
        Contact {
            id: self.id,
            contact_type: contact_types.first().cloned(),
            contact_types,
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            title: self.title,
            department: self.department,
            address: self.address,
            address2: self.address2,
            city: self.city,
            state: self.state,
            zip: self.zip,
            linkedin_url: self.linkedin_url,
            photo_url: self.photo_url,
            phones,
            is_primary: self.is_primary != 0,
            owner_account_id: self.owner_account_id,
            is_connected: self.is_connected != 0,
            created_at: self.created_at,
            updated_at: self.updated_at,
            company_id: self.company_id,
            locked: self.is_locked != 0,
        }
    }
}

const CONTACT_COLUMNS: &str = "id, owner_account_id, company_id, contact_types, first_name, last_name, email, title, \
     department, address, address2, city, state, zip, linkedin_url, photo_url, is_primary, is_connected, is_locked, \
     created_at, updated_at";

#[derive(Debug, Clone, FromRow)]
struct PhoneRow {
    id: i64,
    contact_id: i64,
    phone_type: Option<String>,
    raw: Option<String>,
    country: Option<String>,
    e164: Option<String>,
    extension: Option<String>,
}

/// Ledger rows as stored.
#[derive(Debug, Clone, FromRow)]
struct LedgerRow {
    id: i64,
    delta: i64,
    balance_after: i64,
    reason: String,
    contact_id: Option<i64>,
    user_id: Option<i64>,
    created_at: String,
}

/// Column of a list filter; the second fence after the list grammar.
fn filter_column(name: &str) -> Option<&'static str> {
    Some(match name {
        "is_connected" => "is_connected",
        "company_id" => "company_id",
        "company_type" => "company_type",
        _ => return None,
    })
}

fn push_filter(qb: &mut Sql, f: &Filter) {
    let Some(col) = filter_column(f.field) else { return };
    match &f.value {
        FilterValue::Bool(b) => {
            qb.push(format_args!(" AND {col} = ")).push_bind(i64::from(*b));
        }
        FilterValue::Text(s) => {
            qb.push(format_args!(" AND {col} = ")).push_bind(s.clone());
        }
        // Id columns are integers: compare with the integer bound the number implies, so both
        // backends see integer = integer.
        FilterValue::Number(n) => {
            let (op, bound) = match f.op {
                FilterOp::Eq if n.fract() != 0.0 => {
                    qb.push(" AND 1 = 0");
                    return;
                }
                FilterOp::Eq => ("=", *n),
                FilterOp::Gte => (">=", n.ceil()),
                FilterOp::Gt => (">", n.floor()),
                FilterOp::Lte => ("<=", n.floor()),
                FilterOp::Lt => ("<", n.ceil()),
            };
            // `as` saturates, so huge bounds stay huge.
            qb.push(format_args!(" AND {col} {op} ")).push_bind(bound as i64);
        }
        FilterValue::DateTime(s) => {
            qb.push(format_args!(" AND {col} = ")).push_bind(s.clone());
        }
    }
}

fn cursor_after(q: &ListQuery) -> Option<i64> {
    match q.paging {
        Paging::Cursor { after_id, .. } => after_id,
        Paging::Offset { .. } => None,
    }
}

/// Phones of the given contacts, in list order, grouped by contact.
async fn phones_of(conn: &mut AnyConnection, contact_ids: &[i64]) -> Result<HashMap<i64, Vec<Phone>>> {
    let mut out: HashMap<i64, Vec<Phone>> = HashMap::new();
    if contact_ids.is_empty() {
        return Ok(out);
    }
    let mut qb = Sql::new(
        "SELECT id, contact_id, phone_type, raw, country, e164, extension FROM contact_phones WHERE contact_id IN (",
    );
    qb.push_ids(contact_ids);
    qb.push(") ORDER BY contact_id, position, id");
    let rows: Vec<PhoneRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
    for r in rows {
        out.entry(r.contact_id).or_default().push(Phone {
            id: Some(r.id.to_string()),
            phone_type: r.phone_type,
            raw: r.raw,
            country: r.country,
            e164: r.e164,
            extension: r.extension,
        });
    }
    Ok(out)
}

async fn with_phones(conn: &mut AnyConnection, rows: Vec<ContactRow>) -> Result<Vec<Contact>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut phones = phones_of(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let p = phones.remove(&r.id).unwrap_or_default();
            r.into_contact(p)
        })
        .collect())
}

async fn load_contact(conn: &mut AnyConnection, account_id: i64, contact_id: i64) -> Result<Option<Contact>> {
    let row: Option<ContactRow> =
        sqlx::query_as(sqlf!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1 AND owner_account_id = $2"))
            .bind(contact_id)
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?;
    match row {
        Some(r) => Ok(with_phones(conn, vec![r]).await?.pop()),
        None => Ok(None),
    }
}

async fn insert_phones(conn: &mut AnyConnection, contact_id: i64, phones: &[PhoneInput]) -> Result<()> {
    for (position, p) in phones.iter().enumerate() {
        sqlx::query(
            "INSERT INTO contact_phones (contact_id, position, phone_type, raw, country, e164, extension) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(contact_id)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(p.phone_type)
        .bind(&p.raw)
        .bind(&p.country)
        .bind(&p.e164)
        .bind(&p.extension)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Takes the company row's lock (PostgreSQL) without changing it; `false` when the company is
/// not the account's.
async fn lock_company(conn: &mut AnyConnection, account_id: i64, company_id: i64) -> Result<bool> {
    let n = sqlx::query("UPDATE companies SET updated_at = updated_at WHERE id = $1 AND owner_account_id = $2")
        .bind(company_id)
        .bind(account_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Clears the primary flag of the company's other contacts.
async fn demote_primary(
    conn: &mut AnyConnection,
    account_id: i64,
    company_id: i64,
    keep: i64,
    now: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE contacts SET is_primary = 0, updated_at = $1 \
         WHERE company_id = $2 AND owner_account_id = $3 AND id <> $4 AND is_primary = 1",
    )
    .bind(now)
    .bind(company_id)
    .bind(account_id)
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn push_text_patch(qb: &mut Sql, col: &str, p: &Patch<String>) {
    match p {
        Patch::Absent => {}
        Patch::Null => {
            qb.push(format_args!(", {col} = NULL"));
        }
        Patch::Value(v) => {
            qb.push(format_args!(", {col} = ")).push_bind(v.clone());
        }
    }
}

/// Makes sure the account has a credit row: its tier's default (`opening`, `None` = not
/// provisioned) when it has none, recorded in the ledger. Being a write, it also takes the
/// SQLite write lock at the start of the transaction.
async fn ensure_credit_row(conn: &mut AnyConnection, account_id: i64, opening: Option<i64>, now: &str) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO credit_accounts (account_id, enabled, balance, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account_id) DO NOTHING",
    )
    .bind(account_id)
    .bind(i64::from(opening.is_some()))
    .bind(opening)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if let (1, Some(balance)) = (inserted, opening) {
        ledger_entry(conn, account_id, balance, balance, "opening_grant", None, None, now).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn ledger_entry(
    conn: &mut AnyConnection,
    account_id: i64,
    delta: i64,
    balance_after: i64,
    reason: &str,
    contact_id: Option<i64>,
    user_id: Option<i64>,
    now: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO credit_ledger (account_id, delta, balance_after, reason, contact_id, user_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(account_id)
    .bind(delta)
    .bind(balance_after)
    .bind(reason)
    .bind(contact_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::on_unique(e, "credit ledger entry"))?;
    Ok(())
}

impl Store {
    // --- companies ---------------------------------------------------------------------------

    /// A page of the account's companies (one row more than `limit` when more exist) and the
    /// number matching the filters.
    pub async fn list_companies(&self, account_id: i64, q: &ListQuery) -> Result<(Vec<Company>, i64)> {
        let filter = |qb: &mut Sql| {
            qb.push(" WHERE owner_account_id = ").push_bind(account_id);
            for f in &q.filters {
                push_filter(qb, f);
            }
        };
        let count = Sql::new("SELECT COUNT(*) FROM companies");
        let select = Sql::new(format!("SELECT {COMPANY_COLUMNS} FROM companies"));
        let (rows, total): (Vec<CompanyRow>, i64) =
            self.keyset_page(count, select, filter, "id", cursor_after(q), q.limit).await?;
        Ok((rows.into_iter().map(Company::from).collect(), total))
    }

    /// A company of the account; `None` when missing or another account's.
    pub async fn company(&self, account_id: i64, company_id: i64) -> Result<Option<Company>> {
        let row: Option<CompanyRow> =
            sqlx::query_as(sqlf!("SELECT {COMPANY_COLUMNS} FROM companies WHERE id = $1 AND owner_account_id = $2"))
                .bind(company_id)
                .bind(account_id)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
        Ok(row.map(Company::from))
    }

    /// Creates a company of the account (connected: the account entered it).
    pub async fn insert_company(&self, account_id: i64, c: &NewCompany, now: &str) -> Result<Company> {
        let mut qb = Sql::new(
            "INSERT INTO companies (owner_account_id, name, company_type, org_id, is_connected, created_at, updated_at",
        );
        for (col, _) in &c.texts {
            qb.push(format_args!(", {col}"));
        }
        qb.push(") VALUES (").push_bind(account_id);
        qb.push(", ").push_bind(c.name.clone());
        qb.push(", ").push_bind(c.company_type.to_string());
        qb.push(", ").push_bind(c.org_id);
        qb.push(", 1, ").push_bind(now.to_string());
        qb.push(", ").push_bind(now.to_string());
        for (_, v) in &c.texts {
            qb.push(", ").push_bind(v.clone());
        }
        qb.push(format_args!(") RETURNING {COMPANY_COLUMNS}"));
        let row: CompanyRow = qb.build_query_as().fetch_one(&mut *self.conn().await?).await?;
        Ok(row.into())
    }

    /// Applies a partial update; `None` when the company is not the account's. An empty change
    /// writes nothing, `updated_at` included.
    pub async fn update_company(
        &self,
        account_id: i64,
        company_id: i64,
        c: &CompanyChanges,
        now: &str,
    ) -> Result<Option<Company>> {
        if c.is_empty() {
            return self.company(account_id, company_id).await;
        }
        let mut qb = Sql::new("UPDATE companies SET updated_at = ");
        qb.push_bind(now.to_string());
        if let Some(name) = &c.name {
            qb.push(", name = ").push_bind(name.clone());
        }
        if let Some(t) = c.company_type {
            qb.push(", company_type = ").push_bind(t.to_string());
        }
        for (col, p) in &c.texts {
            push_text_patch(&mut qb, col, p);
        }
        match c.org_id {
            Patch::Absent => {}
            Patch::Null => {
                qb.push(", org_id = NULL");
            }
            Patch::Value(id) => {
                qb.push(", org_id = ").push_bind(id);
            }
        }
        qb.push(" WHERE id = ").push_bind(company_id).push(" AND owner_account_id = ").push_bind(account_id);
        qb.push(format_args!(" RETURNING {COMPANY_COLUMNS}"));
        let row: Option<CompanyRow> = qb.build_query_as().fetch_optional(&mut *self.conn().await?).await?;
        Ok(row.map(Company::from))
    }

    /// Links the account's unlinked companies to directory organizations of exactly the same
    /// name; returns how many were linked. The directory is loaded by its own module, possibly
    /// later: an error (directory not there yet) is the caller's to ignore.
    pub async fn link_companies_to_directory_by_name(&self, account_id: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE companies SET org_id = (SELECT MIN(d.id) FROM directory_lenders d WHERE d.name = companies.name) \
             WHERE owner_account_id = $1 AND org_id IS NULL AND company_type = 'lender' \
             AND EXISTS (SELECT 1 FROM directory_lenders d WHERE d.name = companies.name)",
        )
        .bind(account_id)
        .execute(&mut *self.conn().await?)
        .await?
        .rows_affected())
    }

    // --- contacts ----------------------------------------------------------------------------

    /// A page of the account's contacts with their phones (one row more than `limit` when more
    /// exist) and the number matching. Without `filter[is_connected]` only connected contacts
    /// are listed, as documented.
    pub async fn list_contacts(&self, account_id: i64, q: &ListQuery) -> Result<(Vec<Contact>, i64)> {
        let connected_default = !q.filters.iter().any(|f| f.field == "is_connected");
        let filter = |qb: &mut Sql| {
            qb.push(" WHERE owner_account_id = ").push_bind(account_id);
            if connected_default {
                qb.push(" AND is_connected = 1");
            }
            for f in &q.filters {
                push_filter(qb, f);
            }
        };
        let count = Sql::new("SELECT COUNT(*) FROM contacts");
        let select = Sql::new(format!("SELECT {CONTACT_COLUMNS} FROM contacts"));
        let (rows, total): (Vec<ContactRow>, i64) =
            self.keyset_page(count, select, filter, "id", cursor_after(q), q.limit).await?;
        Ok((with_phones(&mut *self.conn().await?, rows).await?, total))
    }

    /// A contact of the account with its phones, locked or not (callers mask it for display);
    /// `None` when missing or another account's.
    pub async fn contact(&self, account_id: i64, contact_id: i64) -> Result<Option<Contact>> {
        let mut conn = self.conn().await?;
        load_contact(&mut conn, account_id, contact_id).await
    }

    /// The first still-locked AI-recommended contact at a company of the account, if any (what
    /// an AI contact match on a placement points at).
    pub async fn locked_contact_at(&self, account_id: i64, company_id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM contacts WHERE owner_account_id = $1 AND company_id = $2 AND is_locked = 1 ORDER BY id LIMIT 1",
        )
        .bind(account_id)
        .bind(company_id)
        .fetch_optional(&mut *self.conn().await?)
        .await?)
    }

    /// Creates a contact with its phones; promoting it to primary demotes the company's current
    /// primary in the same transaction. `Err(NotFound("company"))` when the company is not the
    /// account's.
    pub async fn insert_contact(
        &self,
        account_id: i64,
        c: &NewContact,
        origin: ContactOrigin,
        now: &str,
    ) -> Result<Contact> {
        let mut tx = self.begin_write().await?;
        if !lock_company(&mut tx, account_id, c.company_id).await? {
            return Err(StoreError::NotFound("company"));
        }
        if c.is_primary {
            demote_primary(&mut tx, account_id, c.company_id, 0, now).await?;
        }
        let ai = origin == ContactOrigin::AiRecommended;
        let mut qb = Sql::new(
            "INSERT INTO contacts (owner_account_id, company_id, contact_types, email, is_primary, is_connected, \
             is_locked, created_at, updated_at",
        );
        for (col, _) in &c.texts {
            qb.push(format_args!(", {col}"));
        }
        qb.push(") VALUES (").push_bind(account_id);
        qb.push(", ").push_bind(c.company_id);
        qb.push(", ").push_bind(join_contact_types(&[c.contact_type]));
        qb.push(", ").push_bind(c.email.clone());
        qb.push(", ").push_bind(i64::from(c.is_primary));
        qb.push(", ").push_bind(i64::from(!ai));
        qb.push(", ").push_bind(i64::from(ai));
        qb.push(", ").push_bind(now.to_string());
        qb.push(", ").push_bind(now.to_string());
        for (_, v) in &c.texts {
            qb.push(", ").push_bind(v.clone());
        }
        qb.push(") RETURNING id");
        let id: i64 = qb.build_query_scalar().fetch_one(&mut *tx).await?;
        insert_phones(&mut tx, id, &c.phones).await?;
        let contact = load_contact(&mut tx, account_id, id).await?.ok_or(StoreError::NotFound("contact"))?;
        tx.commit().await?;
        Ok(contact)
    }

    /// Applies a partial update under the contact rules: locked contacts are not editable, the
    /// email cannot change, `phones` replaces the whole list, `is_primary: true` demotes the
    /// company's previous primary. An empty change writes nothing.
    pub async fn update_contact(
        &self,
        account_id: i64,
        contact_id: i64,
        c: &ContactChanges,
        now: &str,
    ) -> Result<ContactUpdate> {
        // The company of a contact never changes, so it can be read before the transaction;
        // knowing it lets the transaction lock the company before the contact.
        let company_id: Option<i64> =
            sqlx::query_scalar("SELECT company_id FROM contacts WHERE id = $1 AND owner_account_id = $2")
                .bind(contact_id)
                .bind(account_id)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
        let Some(company_id) = company_id else { return Ok(ContactUpdate::NotFound) };
        let mut tx = self.begin_write().await?;
        if c.is_primary == Some(true) {
            lock_company(&mut tx, account_id, company_id).await?;
        }
        let n = sqlx::query("UPDATE contacts SET updated_at = updated_at WHERE id = $1 AND owner_account_id = $2")
            .bind(contact_id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(ContactUpdate::NotFound);
        }
        let (email, locked): (Option<String>, i64) =
            sqlx::query_as("SELECT email, is_locked FROM contacts WHERE id = $1 AND owner_account_id = $2")
                .bind(contact_id)
                .bind(account_id)
                .fetch_one(&mut *tx)
                .await?;
        if locked != 0 {
            return Ok(ContactUpdate::Locked);
        }
        if !email_change_allowed(email.as_deref(), &c.email) {
            return Ok(ContactUpdate::EmailChange);
        }
        if !c.is_empty() {
            let mut qb = Sql::new("UPDATE contacts SET updated_at = ");
            qb.push_bind(now.to_string());
            // Only a first address is written; resending the current one changes nothing.
            if let (None, Patch::Value(v)) = (&email, &c.email) {
                qb.push(", email = ").push_bind(v.clone());
            }
            for (col, p) in &c.texts {
                push_text_patch(&mut qb, col, p);
            }
            if let Some(primary) = c.is_primary {
                if primary {
                    demote_primary(&mut tx, account_id, company_id, contact_id, now).await?;
                }
                qb.push(", is_primary = ").push_bind(i64::from(primary));
            }
            qb.push(" WHERE id = ").push_bind(contact_id).push(" AND owner_account_id = ").push_bind(account_id);
            qb.build().execute(&mut *tx).await?;
            if let Some(phones) = &c.phones {
                sqlx::query("DELETE FROM contact_phones WHERE contact_id = $1")
                    .bind(contact_id)
                    .execute(&mut *tx)
                    .await?;
                insert_phones(&mut tx, contact_id, phones).await?;
            }
        }
        let contact = load_contact(&mut tx, account_id, contact_id).await?.ok_or(StoreError::NotFound("contact"))?;
        tx.commit().await?;
        Ok(ContactUpdate::Updated(Box::new(contact)))
    }

    // --- credits -----------------------------------------------------------------------------

    /// Reveals a locked contact and charges `cost` credits, in one transaction: either both
    /// happen or neither. `opening` is the account's default pool, written first if the account
    /// has no credit row yet. Only the caller that flips the contact from locked to unlocked
    /// pays, so concurrent or repeated unlocks charge once.
    pub async fn unlock_contact(
        &self,
        account_id: i64,
        user_id: i64,
        contact_id: i64,
        cost: i64,
        opening: Option<i64>,
        now: &str,
    ) -> Result<Unlock> {
        let mut tx = self.begin_write().await?;
        ensure_credit_row(&mut tx, account_id, opening, now).await?;
        let flipped = sqlx::query(
            "UPDATE contacts SET is_locked = 0, unlocked_at = $1, updated_at = $1 \
             WHERE id = $2 AND owner_account_id = $3 AND is_locked = 1",
        )
        .bind(now)
        .bind(contact_id)
        .bind(account_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if flipped == 0 {
            let contact = load_contact(&mut tx, account_id, contact_id).await?;
            tx.commit().await?;
            return Ok(contact.map_or(Unlock::NotFound, |c| Unlock::AlreadyVisible(Box::new(c))));
        }
        let balance: Option<i64> = sqlx::query_scalar(
            "UPDATE credit_accounts SET balance = balance - $1, updated_at = $2 \
             WHERE account_id = $3 AND enabled = 1 AND balance >= $1 RETURNING balance",
        )
        .bind(cost)
        .bind(now)
        .bind(account_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(balance) = balance else {
            tx.rollback().await?;
            let pool = self.credit_pool(account_id).await?.unwrap_or(CreditPool { enabled: false, balance: None });
            return Ok(Unlock::Insufficient(pool));
        };
        ledger_entry(&mut tx, account_id, -cost, balance, "contact_unlock", Some(contact_id), Some(user_id), now)
            .await?;
        let contact = load_contact(&mut tx, account_id, contact_id).await?.ok_or(StoreError::NotFound("contact"))?;
        tx.commit().await?;
        Ok(Unlock::Unlocked { contact: Box::new(contact), balance })
    }

    /// The stored credit pool; `None` when the account has none yet (its tier default applies).
    pub async fn credit_pool(&self, account_id: i64) -> Result<Option<CreditPool>> {
        let row: Option<(i64, Option<i64>)> =
            sqlx::query_as("SELECT enabled, balance FROM credit_accounts WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
        Ok(row.map(|(enabled, balance)| CreditPool { enabled: enabled != 0, balance }))
    }

    /// Sets the pool to `balance` credits (`None`: credit billing off), recording the
    /// difference in the ledger under `reason` (administration, demo data, tests).
    pub async fn set_credit_balance(
        &self,
        account_id: i64,
        balance: Option<i64>,
        reason: &str,
        now: &str,
    ) -> Result<()> {
        let balance = balance.map(|b| b.max(0));
        let mut tx = self.begin_write().await?;
        ensure_credit_row(&mut tx, account_id, None, now).await?;
        let before: Option<i64> =
            sqlx::query_scalar("UPDATE credit_accounts SET updated_at = $1 WHERE account_id = $2 RETURNING balance")
                .bind(now)
                .bind(account_id)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query("UPDATE credit_accounts SET enabled = $1, balance = $2 WHERE account_id = $3")
            .bind(i64::from(balance.is_some()))
            .bind(balance)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        if let Some(b) = balance {
            ledger_entry(&mut tx, account_id, b - before.unwrap_or(0), b, reason, None, None, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The account's ledger, oldest first.
    pub async fn credit_ledger(&self, account_id: i64) -> Result<Vec<CreditLedgerEntry>> {
        let rows: Vec<LedgerRow> = sqlx::query_as(
            "SELECT id, delta, balance_after, reason, contact_id, user_id, created_at FROM credit_ledger \
             WHERE account_id = $1 ORDER BY id",
        )
        .bind(account_id)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| CreditLedgerEntry {
                id: r.id,
                delta: r.delta,
                balance_after: r.balance_after,
                reason: r.reason,
                contact_id: r.contact_id,
                user_id: r.user_id,
                created_at: r.created_at,
            })
            .collect())
    }
}
