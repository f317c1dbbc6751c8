use signet_store::audit::{self, Actor, AuditAction, AuditEvent};
use signet_store::{UnixTime, ids, is_unique_violation, sqlx};

use crate::password::Password;
use crate::{Identity, IdentityError, User};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    display_name: String,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            created_at: UnixTime::from_secs(row.created_at),
        }
    }
}

/// `SELECT <the columns of UserRow> FROM users <rest>` as one static string.
macro_rules! select_users {
    ($rest:literal) => {
        concat!(
            "SELECT id, email, display_name, created_at FROM users ",
            $rest
        )
    };
}

/// Trims an email and checks its shape: one `@`, a non-empty local part, a
/// domain of letters, digits, hyphens and dots, no spaces, at most 254 bytes.
pub(crate) fn normalize_email(raw: &str) -> Result<(String, String), IdentityError> {
    let email = raw.trim();
    let invalid = || IdentityError::InvalidEmail(raw.to_owned());
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = !domain.is_empty()
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
        return Err(invalid());
    }
    Ok((email.to_owned(), email.to_lowercase()))
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
pub(crate) fn clean_name(raw: &str, field: &'static str) -> Result<String, IdentityError> {
    let name = raw.trim();
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.chars().count() > 100 {
        Some("it is longer than 100 characters")
    } else if name.chars().any(char::is_control) {
        Some("it contains control characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(IdentityError::InvalidName { field, reason }),
        None => Ok(name.to_owned()),
    }
}

impl Identity {
    /// Creates a user. The display name defaults to the email's local part.
    /// A user without a password exists but cannot sign in.
    pub async fn create_user(
        &self,
        actor: &Actor,
        email: &str,
        display_name: Option<&str>,
        password: Option<Password>,
    ) -> Result<User, IdentityError> {
        let (email, email_key) = normalize_email(email)?;
        let display_name = match display_name {
            Some(name) => clean_name(name, "display name")?,
            None => email.split('@').next().unwrap_or_default().to_owned(),
        };
        let password_hash = match password {
            Some(p) => Some(self.hash_password(p).await?),
            None => None,
        };
        let id = ids::new(ids::USER).map_err(|e| IdentityError::Hashing(e.to_string()))?;
        let now = self.clock.now();

        let mut tx = self.store.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, email_key, display_name, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(&email)
        .bind(&email_key)
        .bind(&display_name)
        .bind(password_hash)
        .bind(now.as_secs())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(IdentityError::EmailTaken(email)),
            other => other?,
        };
        audit::record(
            &mut tx,
            actor,
            now,
            AuditEvent {
                action: AuditAction::UserCreated,
                subject_id: Some(&id),
                org_id: None,
                detail: serde_json::json!({ "email": email }).to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(User {
            id,
            email,
            display_name,
            created_at: now,
        })
    }

    /// Replaces a user's password and ends the user's browser sessions,
    /// except `keep_session` (the one making the change from the web).
    pub async fn set_password(
        &self,
        actor: &Actor,
        email: &str,
        password: Password,
        keep_session: Option<&str>,
    ) -> Result<User, IdentityError> {
        let user = self.user_by_email(email).await?;
        let hash = self.hash_password(password).await?;
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now.as_secs())
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        // Whoever knew the old password is signed out everywhere.
        let ended = sqlx::query("DELETE FROM web_sessions WHERE user_id = $1 AND id <> $2")
            .bind(&user.id)
            .bind(keep_session.unwrap_or_default())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        audit::record(
            &mut tx,
            actor,
            now,
            AuditEvent {
                action: AuditAction::UserPasswordSet,
                subject_id: Some(&user.id),
                org_id: None,
                detail: serde_json::json!({ "sessions_ended": ended }).to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// The user with this email, compared case-insensitively.
    pub async fn user_by_email(&self, email: &str) -> Result<User, IdentityError> {
        let key = email.trim().to_lowercase();
        let row: Option<UserRow> = sqlx::query_as(select_users!("WHERE email_key = $1"))
            .bind(&key)
            .fetch_optional(self.store.pool())
            .await?;
        row.map(User::from)
            .ok_or_else(|| IdentityError::UnknownUser(email.trim().to_owned()))
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, IdentityError> {
        let row: Option<UserRow> = sqlx::query_as(select_users!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?;
        Ok(row.map(User::from))
    }

    pub async fn list_users(&self) -> Result<Vec<User>, IdentityError> {
        let rows: Vec<UserRow> = sqlx::query_as(select_users!("ORDER BY email_key"))
            .fetch_all(self.store.pool())
            .await?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    /// Checks an email and password. Unknown emails, users without a
    /// password and wrong passwords all answer `None` after the same work.
    pub async fn verify_password(
        &self,
        email: &str,
        password: Password,
    ) -> Result<Option<User>, IdentityError> {
        let key = email.trim().to_lowercase();
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT id, password_hash FROM users WHERE email_key = $1")
                .bind(&key)
                .fetch_optional(self.store.pool())
                .await?;
        let (id, stored) = match row {
            Some((id, stored)) => (Some(id), stored),
            None => (None, None),
        };
        if !self.hasher.verify(password, stored).await? {
            return Ok(None);
        }
        match id {
            Some(id) => self.user_by_id(&id).await,
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_keyed_in_lower_case() {
        let (email, key) = normalize_email("  Ada@Example.COM ").unwrap();
        assert_eq!(email, "Ada@Example.COM");
        assert_eq!(key, "ada@example.com");
        assert!(normalize_email("admin@localhost").is_ok());
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@@example.com",
            "a da@example.com",
            "ada@exa mple.com",
            "ada@.example.com",
            "ada@example..com",
            "ada@example.com-",
        ] {
            assert!(
                matches!(normalize_email(bad), Err(IdentityError::InvalidEmail(_))),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Acme  ", "name").unwrap(), "Acme");
        assert!(clean_name("   ", "name").is_err());
        assert!(clean_name(&"x".repeat(101), "name").is_err());
        assert!(clean_name("a\u{7}b", "name").is_err());
    }
}
