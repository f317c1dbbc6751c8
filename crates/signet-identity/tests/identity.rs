//! Identity against real databases: SQLite always, PostgreSQL when
//! `SIGNET_TEST_POSTGRES_URL` is set (and always under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use signet_identity::{AccountStatus, Identity, IdentityError, MembershipChange, Password, Role};
use signet_store::audit::Actor;
use signet_store::testing::TestDb;
use signet_store::{ManualClock, UnixTime, sqlx};

signet_store::store_tests!(
    emails_are_unique_case_insensitively_and_refusals_write_nothing,
    passwords_verify_only_for_the_right_user,
    organizations_resolve_by_id_or_unambiguous_name,
    memberships_keep_at_least_one_owner,
    accounts_link_once_and_change_status,
    bootstrap_happens_once,
);

fn identity(db: &TestDb) -> Identity {
    let clock = Arc::new(ManualClock::new(UnixTime::from_secs(1_795_000_000)));
    Identity::new(db.store.clone(), clock)
}

/// Member removal as the authorization server runs it, without the
/// connections part (this crate has none): one transaction.
trait RemoveMemberNow {
    async fn remove_member_now(
        &self,
        actor: &Actor,
        org_id: &str,
        email: &str,
    ) -> Result<(signet_identity::User, Role), IdentityError>;
}

impl RemoveMemberNow for Identity {
    async fn remove_member_now(
        &self,
        actor: &Actor,
        org_id: &str,
        email: &str,
    ) -> Result<(signet_identity::User, Role), IdentityError> {
        let user = self.user_by_email(email).await?;
        let mut tx = self.store().begin_write().await?;
        let role = self
            .remove_member_in(&mut tx, actor, org_id, &user, 0)
            .await?;
        tx.commit().await?;
        Ok((user, role))
    }
}

async fn count(db: &TestDb, table: &'static str) -> i64 {
    let sql = match table {
        "users" => "SELECT COUNT(*) FROM users",
        "memberships" => "SELECT COUNT(*) FROM memberships",
        "accounts" => "SELECT COUNT(*) FROM accounts",
        "audit_events" => "SELECT COUNT(*) FROM audit_events",
        other => panic!("no count query for {other}"),
    };
    sqlx::query_scalar(sql)
        .fetch_one(db.store.pool())
        .await
        .unwrap()
}

async fn emails_are_unique_case_insensitively_and_refusals_write_nothing(db: TestDb) {
    let id = identity(&db);
    let ada = id
        .create_user(&Actor::Cli, " Ada@Example.com ", Some("Ada Lovelace"), None)
        .await
        .unwrap();
    assert!(ada.id.starts_with("usr_"));
    assert_eq!(ada.email, "Ada@Example.com");
    assert_eq!(ada.display_name, "Ada Lovelace");
    assert_eq!(ada.created_at, UnixTime::from_secs(1_795_000_000));
    let (users, audits) = (count(&db, "users").await, count(&db, "audit_events").await);

    let err = id
        .create_user(&Actor::Cli, "ada@EXAMPLE.com", None, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "a user with email ada@EXAMPLE.com already exists"
    );
    let err = id
        .create_user(&Actor::Cli, "not-an-email", None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::InvalidEmail(_)));
    assert_eq!(count(&db, "users").await, users);
    assert_eq!(count(&db, "audit_events").await, audits);

    let found = id.user_by_email("ADA@example.COM").await.unwrap();
    assert_eq!(found, ada);
    let bob = id
        .create_user(&Actor::Cli, "bob@example.com", None, None)
        .await
        .unwrap();
    assert_eq!(
        bob.display_name, "bob",
        "display name defaults to the local part"
    );
    let all = id.list_users().await.unwrap();
    assert_eq!(
        all.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        ["Ada@Example.com", "bob@example.com"]
    );
}

async fn passwords_verify_only_for_the_right_user(db: TestDb) {
    let id = identity(&db);
    let pw = Password::new("correct horse battery").unwrap();
    let ada = id
        .create_user(&Actor::Cli, "ada@example.com", None, Some(pw))
        .await
        .unwrap();
    id.create_user(&Actor::Cli, "nopass@example.com", None, None)
        .await
        .unwrap();

    let ok = id
        .verify_password(
            "ADA@example.com",
            Password::attempt("correct horse battery"),
        )
        .await
        .unwrap();
    assert_eq!(ok.map(|u| u.id), Some(ada.id.clone()));
    for (email, attempt) in [
        ("ada@example.com", "wrong horse battery"),
        ("ghost@example.com", "correct horse battery"),
        ("nopass@example.com", ""),
    ] {
        assert_eq!(
            id.verify_password(email, Password::attempt(attempt))
                .await
                .unwrap(),
            None,
            "{email}"
        );
    }
    id.set_password(
        &Actor::Cli,
        "ada@example.com",
        Password::new("a new secret").unwrap(),
        None,
    )
    .await
    .unwrap();
    assert!(
        id.verify_password(
            "ada@example.com",
            Password::attempt("correct horse battery")
        )
        .await
        .unwrap()
        .is_none()
    );
    assert!(
        id.verify_password("ada@example.com", Password::attempt("a new secret"))
            .await
            .unwrap()
            .is_some()
    );
}

async fn organizations_resolve_by_id_or_unambiguous_name(db: TestDb) {
    let id = identity(&db);
    let err = id
        .create_organization(&Actor::Cli, "Acme", Some("ghost@example.com"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no user with email ghost@example.com");
    assert!(
        id.list_organizations().await.unwrap().is_empty(),
        "nothing written"
    );

    let acme = id
        .create_organization(&Actor::Cli, "  Acme ", None)
        .await
        .unwrap();
    assert_eq!(acme.name, "Acme");
    assert_eq!(id.resolve_organization(&acme.id).await.unwrap(), acme);
    assert_eq!(id.resolve_organization("Acme").await.unwrap(), acme);
    assert!(matches!(
        id.resolve_organization("acme").await,
        Err(IdentityError::UnknownOrganization(_))
    ));
    assert!(matches!(
        id.resolve_organization("org_aaaaaaaaaaaaaaaaaaaaaaaaaa")
            .await,
        Err(IdentityError::UnknownOrganization(_))
    ));
    id.create_organization(&Actor::Cli, "Acme", None)
        .await
        .unwrap();
    let err = id.resolve_organization("Acme").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "2 organizations are named \"Acme\": use the organization id"
    );
    assert_eq!(id.resolve_organization(&acme.id).await.unwrap(), acme);
}

async fn memberships_keep_at_least_one_owner(db: TestDb) {
    let id = identity(&db);
    let ada = id
        .create_user(&Actor::Cli, "ada@example.com", None, None)
        .await
        .unwrap();
    id.create_user(&Actor::Cli, "bob@example.com", None, None)
        .await
        .unwrap();
    let org = id
        .create_organization(&Actor::Cli, "Acme", Some("ada@example.com"))
        .await
        .unwrap();
    let other = id
        .create_organization(&Actor::Cli, "Beta", None)
        .await
        .unwrap();
    id.link_account(&Actor::Cli, &org.id).await.unwrap();

    // Removing or demoting the only owner is refused and changes nothing.
    let err = id
        .remove_member_now(&Actor::Cli, &org.id, "ada@example.com")
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::LastOwner { .. }), "{err}");
    let err = id
        .add_member(&Actor::Cli, &org.id, "ada@example.com", Role::Member)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::LastOwner { .. }), "{err}");
    assert_eq!(count(&db, "memberships").await, 1);

    let (_, change) = id
        .add_member(&Actor::Cli, &org.id, "bob@example.com", Role::Admin)
        .await
        .unwrap();
    assert_eq!(change, MembershipChange::Added);
    let (_, change) = id
        .add_member(&Actor::Cli, &org.id, "bob@example.com", Role::Admin)
        .await
        .unwrap();
    assert_eq!(change, MembershipChange::Unchanged);
    let (_, change) = id
        .add_member(&Actor::Cli, &org.id, "bob@example.com", Role::Owner)
        .await
        .unwrap();
    assert_eq!(change, MembershipChange::RoleChanged { from: Role::Admin });
    // With two owners, either may go.
    let (_, role) = id
        .remove_member_now(&Actor::Cli, &org.id, "ada@example.com")
        .await
        .unwrap();
    assert_eq!(role, Role::Owner);
    let err = id
        .remove_member_now(&Actor::Cli, &org.id, "ada@example.com")
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::NotAMember { .. }), "{err}");

    id.add_member(&Actor::Cli, &org.id, "ada@example.com", Role::Member)
        .await
        .unwrap();
    id.add_member(&Actor::Cli, &other.id, "ada@example.com", Role::Owner)
        .await
        .unwrap();
    let orgs = id.organizations_of_user(&ada.id).await.unwrap();
    assert_eq!(orgs.len(), 2);
    assert_eq!(
        (orgs[0].name.as_str(), orgs[0].role, orgs[0].account_status),
        ("Acme", Role::Member, Some(AccountStatus::Active))
    );
    assert_eq!(
        (orgs[1].name.as_str(), orgs[1].role, orgs[1].account_status),
        ("Beta", Role::Owner, None)
    );
    let members = id.members(&org.id).await.unwrap();
    assert_eq!(
        members
            .iter()
            .map(|m| (m.email.as_str(), m.role))
            .collect::<Vec<_>>(),
        [
            ("ada@example.com", Role::Member),
            ("bob@example.com", Role::Owner)
        ]
    );
}

async fn accounts_link_once_and_change_status(db: TestDb) {
    let id = identity(&db);
    let org = id
        .create_organization(&Actor::Cli, "Acme", None)
        .await
        .unwrap();
    assert_eq!(id.account_of(&org.id).await.unwrap(), None);
    let err = id
        .set_account_status(&Actor::Cli, &org.id, AccountStatus::Suspended)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::NoAccount(_)), "{err}");

    let account = id.link_account(&Actor::Cli, &org.id).await.unwrap();
    assert!(account.id.starts_with("acc_"));
    assert_eq!(
        (account.status, account.live_mode),
        (AccountStatus::Active, false)
    );
    let err = id.link_account(&Actor::Cli, &org.id).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "organization {} is already linked to account {}",
            org.id, account.id
        )
    );
    assert_eq!(count(&db, "accounts").await, 1);

    let suspended = id
        .set_account_status(&Actor::Cli, &org.id, AccountStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(
        (suspended.status, suspended.live_mode),
        (AccountStatus::Suspended, false)
    );
    let live = id.set_live_mode(&Actor::Cli, &org.id, true).await.unwrap();
    assert_eq!(
        (live.status, live.live_mode),
        (AccountStatus::Suspended, true)
    );
    assert_eq!(id.account_of(&org.id).await.unwrap(), Some(live));
    assert!("paused".parse::<AccountStatus>().is_err());
}

async fn bootstrap_happens_once(db: TestDb) {
    let id = identity(&db);
    let err = id.bootstrap("not an email", "Org").await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidEmail(_)));
    let first = id
        .bootstrap("admin@localhost", "My organization")
        .await
        .unwrap()
        .expect("first start bootstraps");
    assert_eq!(first.user.email, "admin@localhost");
    assert_eq!(first.organization.name, "My organization");
    assert_eq!(first.account.status, AccountStatus::Active);
    assert_eq!(first.account.org_id, first.organization.id);
    let orgs = id.organizations_of_user(&first.user.id).await.unwrap();
    assert_eq!(orgs[0].role, Role::Owner);
    let signed_in = id
        .verify_password(
            "admin@localhost",
            Password::attempt(first.password.expose()),
        )
        .await
        .unwrap();
    assert_eq!(signed_in.map(|u| u.id), Some(first.user.id.clone()));

    assert!(
        id.bootstrap("admin@localhost", "My organization")
            .await
            .unwrap()
            .is_none()
    );
    // Even with every user gone, an instance bootstraps only once.
    sqlx::query("DELETE FROM users")
        .execute(db.store.pool())
        .await
        .unwrap();
    assert!(
        id.bootstrap("other@localhost", "Other")
            .await
            .unwrap()
            .is_none()
    );
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE actor = 'system' ORDER BY action",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    assert_eq!(
        actions,
        ["account.linked", "organization.created", "user.created"]
    );
}
