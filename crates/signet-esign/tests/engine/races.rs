//! The last signature racing another operation on the same envelope, on
//! PostgreSQL, where transactions run side by side (SQLite takes the write
//! lock at `BEGIN`, so there they cannot interleave at all).
//!
//! The interleaving is forced, not hoped for: the test holds the
//! organization's event-counter row (`SELECT … FOR UPDATE`), which every
//! writer updates when it records its event, after its own change. The
//! first operation makes its change and queues on that row; the second
//! then reads the state the first has not yet committed and queues too;
//! the test lets go and both finish. Waiting is on `pg_blocking_pids`,
//! never on time.
//!
//! These found a defect: `resend_request`, `replace_recipient` and the
//! ceremony checked a status they had read and then wrote regardless, so on
//! PostgreSQL the later of two racing operations overwrote what the earlier
//! committed. Now every writer locks the envelope first and every status
//! change is conditional on its from-states (`transitions.rs`).

use std::time::Duration;

use signet_esign::model::{EnvelopeStatus, RecipientStatus};
use signet_store::sqlx;
use signet_store::testing::TestDb;

use crate::support::*;

/// A held lock on the organization's event counter.
struct CounterLock {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    /// The backends queued behind it, directly or through each other.
    chain: Vec<i64>,
}

impl CounterLock {
    async fn take(h: &Engine) -> Self {
        let mut tx = h.db.store.pool().begin().await.unwrap();
        let _: i64 = sqlx::query_scalar(
            "SELECT last_event FROM esign_counters WHERE org_id = $1 FOR UPDATE",
        )
        .bind(&h.caller.org_id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        let pid: i64 = sqlx::query_scalar("SELECT pg_backend_pid()::bigint")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        Self {
            tx,
            chain: vec![pid],
        }
    }

    /// Waits until one more backend is blocked by the chain (the operation
    /// just started has made its change and queued).
    async fn wait_for_one_more(&mut self, h: &Engine) {
        let wait = async {
            loop {
                let pids = self
                    .chain
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                let blocked: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT pid::bigint FROM pg_stat_activity WHERE pg_blocking_pids(pid) && ARRAY[{pids}]::int[]"
                )))
                .fetch_all(h.db.store.pool())
                .await
                .unwrap();
                if let Some(new) = blocked.into_iter().find(|p| !self.chain.contains(p)) {
                    return new;
                }
                tokio::task::yield_now().await;
            }
        };
        let new = tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("the operation never queued on the lock");
        self.chain.push(new);
    }

    async fn release(self) {
        self.tx.rollback().await.unwrap();
    }
}

async fn on_postgres(body: impl AsyncFnOnce(TestDb)) {
    if let Some(db) = signet_store::testing::postgres().await {
        body(db).await;
    }
}

/// Ann, the only signer, signs; while her signature waits to commit, the
/// agent asks to remind her. The reminder must not undo the signature.
#[tokio::test]
async fn postgres_resend_racing_the_last_signature_leaves_it_standing() {
    on_postgres(async |db| {
        let h = engine(db).await;
        let envelope = h.in_progress(Routing::Parallel, &[ANN]).await;
        let id = envelope.envelope_id.clone();
        let ann = recipient(&envelope, ANN.email).recipient_id.clone();
        let token = h.link_for(&id, ANN.email).await;
        h.advance(60);

        let mut lock = CounterLock::take(&h).await;
        let pages = h.pages();
        let signing = tokio::spawn(async move {
            submit(
                pages,
                &token,
                &[
                    ("action", "sign"),
                    ("signature", "Ann Lee"),
                    ("consent", "yes"),
                ],
            )
            .await
        });
        lock.wait_for_one_more(&h).await;
        let (esign, caller, rid, eid) =
            (h.esign.clone(), h.caller.clone(), ann.clone(), id.clone());
        let resending =
            tokio::spawn(async move { esign.resend_request(&caller, &eid, &rid).await });
        lock.wait_for_one_more(&h).await;
        lock.release().await;
        let signed = signing.await.unwrap();
        let resent = resending.await.unwrap();

        assert_eq!(signed.status, axum::http::StatusCode::SEE_OTHER);
        let after = h.get(&id).await;
        assert_eq!(after.status, EnvelopeStatus::Completed);
        // The signature stands, and the reminder is refused as it would be
        // a moment later: the envelope is completed.
        assert_eq!(
            recipient(&after, ANN.email).status,
            RecipientStatus::Completed
        );
        assert_eq!(recipient(&after, ANN.email).resend_count, 0);
        assert_refused(
            resent,
            "cannot-resend",
            409,
            "Requests can be resent only while the envelope is in progress; it is completed",
        );
    })
    .await;
}

/// The same with `replace_recipient`: a signer who has signed is not
/// replaced, and nobody is asked on a completed envelope.
#[tokio::test]
async fn postgres_replace_racing_the_last_signature_leaves_it_standing() {
    on_postgres(async |db| {
        let h = engine(db).await;
        let envelope = h.in_progress(Routing::Parallel, &[ANN]).await;
        let id = envelope.envelope_id.clone();
        let ann = recipient(&envelope, ANN.email).recipient_id.clone();
        let token = h.link_for(&id, ANN.email).await;
        h.advance(60);

        let mut lock = CounterLock::take(&h).await;
        let pages = h.pages();
        let signing = tokio::spawn(async move {
            submit(
                pages,
                &token,
                &[
                    ("action", "sign"),
                    ("signature", "Ann Lee"),
                    ("consent", "yes"),
                ],
            )
            .await
        });
        lock.wait_for_one_more(&h).await;
        let arguments = args(serde_json::json!({
            "envelope_id": id, "recipient_id": ann, "name": CARA.name, "email": CARA.email,
        }));
        let (esign, caller) = (h.esign.clone(), h.caller.clone());
        let replacing =
            tokio::spawn(async move { esign.replace_recipient(&caller, &arguments).await });
        lock.wait_for_one_more(&h).await;
        lock.release().await;
        let signed = signing.await.unwrap();
        let replaced = replacing.await.unwrap();

        assert_eq!(signed.status, axum::http::StatusCode::SEE_OTHER);
        let after = h.get(&id).await;
        assert_eq!(after.status, EnvelopeStatus::Completed);
        assert_eq!(statuses(&after), pairs(&[(ANN.email, "completed")]));
        assert_refused(
            replaced,
            "cannot-replace",
            409,
            "Recipients can be replaced only before the envelope is finished; it is completed",
        );
        assert_eq!(
            h.emails(&id)
                .await
                .iter()
                .filter(|(_, to)| to == CARA.email)
                .count(),
            0
        );
    })
    .await;
}

/// The agent cancels; while the cancellation waits to commit, Ann signs.
/// One of the two must lose: a canceled envelope takes no signature.
#[tokio::test]
async fn postgres_signature_racing_a_cancellation_is_refused() {
    on_postgres(async |db| {
        let h = engine(db).await;
        let envelope = h.in_progress(Routing::Parallel, &[ANN]).await;
        let id = envelope.envelope_id.clone();
        let token = h.link_for(&id, ANN.email).await;

        let mut lock = CounterLock::take(&h).await;
        let (esign, caller, eid) = (h.esign.clone(), h.caller.clone(), id.clone());
        let canceling =
            tokio::spawn(async move { esign.cancel_envelope(&caller, &eid, None).await });
        lock.wait_for_one_more(&h).await;
        let pages = h.pages();
        let sign_token = token.clone();
        let signing = tokio::spawn(async move {
            submit(
                pages,
                &sign_token,
                &[
                    ("action", "sign"),
                    ("signature", "Ann Lee"),
                    ("consent", "yes"),
                ],
            )
            .await
        });
        lock.wait_for_one_more(&h).await;
        lock.release().await;
        let canceled = canceling.await.unwrap();
        let signed = signing.await.unwrap();

        assert_eq!(canceled.unwrap().status, EnvelopeStatus::Canceled);
        signed.assert_closed("the envelope is canceled");
        let after = h.get(&id).await;
        assert_eq!(after.status, EnvelopeStatus::Canceled);
        assert_eq!(statuses(&after), pairs(&[(ANN.email, "sent")]));
        assert!(!types(&h.events(&id).await).contains(&"recipient.completed"));
    })
    .await;
}
