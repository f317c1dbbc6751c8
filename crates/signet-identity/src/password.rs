use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::IdentityError;

pub(crate) const MIN_LEN: usize = 8;
/// Bounds the work an attacker can make one sign-in attempt cost.
pub(crate) const MAX_LEN: usize = 1024;

/// A plaintext password on its way to being hashed or checked. Its `Debug`
/// is redacted so it cannot reach a log by accident.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Accepts a password a user chose: not empty, at least 8 characters,
    /// at most 1 KiB.
    pub fn new(plain: impl Into<String>) -> Result<Self, IdentityError> {
        let plain = plain.into();
        if plain.is_empty() {
            return Err(IdentityError::EmptyPassword);
        }
        if plain.chars().count() < MIN_LEN {
            return Err(IdentityError::PasswordTooShort { min: MIN_LEN });
        }
        if plain.len() > MAX_LEN {
            return Err(IdentityError::PasswordTooLong { max: MAX_LEN });
        }
        Ok(Self(plain))
    }

    /// A password offered at sign-in: never validated for shape (that would
    /// tell an attacker something), only bounded in size.
    pub fn attempt(plain: impl Into<String>) -> Self {
        let mut plain = plain.into();
        if plain.len() > MAX_LEN {
            plain.truncate(plain.floor_char_boundary(MAX_LEN));
        }
        Self(plain)
    }

    /// A fresh random password: 20 characters from a 56-symbol alphabet
    /// without look-alikes (about 116 bits).
    pub fn generate() -> Result<Self, IdentityError> {
        const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        const LEN: usize = 20;
        // Rejection sampling keeps every symbol equally likely: bytes at or
        // above the largest multiple of the alphabet size are drawn again.
        let limit = 256 - 256 % ALPHABET.len();
        let mut plain = String::with_capacity(LEN);
        while plain.len() < LEN {
            let batch = signet_store::random::bytes::<32>()
                .map_err(|e| IdentityError::Hashing(e.to_string()))?;
            for b in batch.iter().map(|b| usize::from(*b)).filter(|b| *b < limit) {
                if plain.len() < LEN {
                    plain.push(char::from(ALPHABET[b % ALPHABET.len()]));
                }
            }
        }
        Ok(Self(plain))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The password hashing workers: a few threads (one per core) that run
/// every argon2id hash, each needing 19 MiB while it runs. Bounding them
/// bounds what a burst of sign-ins can cost: memory stays at one work area
/// per worker however many attempts arrive, and an attempt that cannot get
/// a worker within [`HASH_WAIT`] is refused as [`IdentityError::Busy`]
/// instead of queueing without end.
#[derive(Clone, Debug)]
pub(crate) struct Hasher {
    jobs: std::sync::mpsc::SyncSender<Job>,
    permits: Arc<Semaphore>,
    wait: Duration,
}

/// How long an attempt may wait for a free hashing worker.
pub const HASH_WAIT: Duration = Duration::from_secs(2);

/// A hashing job, run with the worker's own work area.
type Job = Box<dyn FnOnce(&mut WorkArea) + Send>;

/// The memory one argon2id computation needs, allocated once per worker
/// and reused by every hash it runs: the allocator never sees a burst of
/// 19 MiB requests, so nothing is left behind after one.
#[derive(Default)]
struct WorkArea(Vec<Block>);

impl WorkArea {
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }

    /// argon2 of `password` with `salt` under `context`, into `out`.
    fn compute(
        &mut self,
        context: &Argon2<'_>,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), argon2::Error> {
        let blocks = self.blocks(context.params().block_count());
        context.hash_password_into_with_memory(password, salt, out, blocks)
    }

    /// A new PHC string for `password`: argon2id, the crate's default
    /// parameters (19 MiB, 2 passes), a random 16-byte salt.
    fn hash(&mut self, password: &[u8]) -> Result<String, IdentityError> {
        let failed = |e: &dyn fmt::Display| IdentityError::Hashing(e.to_string());
        let salt = signet_store::random::bytes::<16>().map_err(|e| failed(&e))?;
        let context = Argon2::default();
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        self.compute(&context, password, &salt, &mut out)
            .map_err(|e| failed(&e))?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(context.params()).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
            hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(hash.to_string())
    }

    /// Whether `password` matches the PHC string `stored`.
    fn verify(&mut self, password: &[u8], stored: &str) -> bool {
        let Ok(hash) = PasswordHash::new(stored) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(hash.algorithm.as_str()),
            Params::try_from(&hash),
        ) else {
            return false;
        };
        let version = match hash.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(version)) => version,
            Some(Err(_)) => return false,
        };
        let context = Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        if self.compute(&context, password, salt, &mut out).is_err() {
            return false;
        }
        // Constant time: every byte is compared whatever the first differs.
        out.iter()
            .zip(expected.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Hasher {
    /// Starts `workers` hashing threads (at least one); an attempt waits at
    /// most `wait` for one of them.
    pub(crate) fn new(workers: usize, wait: Duration) -> Self {
        let workers = workers.max(1);
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(workers);
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..workers {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("signet-hash-{index}"))
                .spawn(move || {
                    let mut area = WorkArea::default();
                    loop {
                        // The lock is held only while taking a job.
                        let job = match queue.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut area),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a password hashing thread");
            }
        }
        Self {
            jobs,
            permits: Arc::new(Semaphore::new(workers)),
            wait,
        }
    }

    /// One worker per core this process may use.
    pub(crate) fn per_core() -> Self {
        Self::new(
            std::thread::available_parallelism().map_or(2, usize::from),
            HASH_WAIT,
        )
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut WorkArea) -> T + Send + 'static,
    ) -> Result<T, IdentityError> {
        let _permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| IdentityError::Busy)?
            .map_err(|_| IdentityError::Busy)?;
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |area| {
            let _ = done.send(work(area));
        });
        self.jobs.try_send(job).map_err(|_| IdentityError::Busy)?;
        result
            .await
            .map_err(|_| IdentityError::Hashing("the hashing worker stopped".to_owned()))
    }

    /// argon2id with the crate's defaults (19 MiB, 2 passes).
    pub(crate) async fn hash(&self, password: Password) -> Result<String, IdentityError> {
        self.run(move |area| area.hash(password.expose().as_bytes()))
            .await?
    }

    /// Checks a password against a stored hash, or against a fixed dummy
    /// hash when there is none, so that an unknown email costs the same
    /// time as a wrong password.
    pub(crate) async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, IdentityError> {
        self.run(move |area| {
            let known = stored.is_some();
            let hash_text = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
            area.verify(password.expose().as_bytes(), &hash_text) && known
        })
        .await
    }
}

/// argon2id hash of a random string nobody knows, with default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2lnbmV0LWR1bW15LXNhbHQ$Lk4ZS4b2Wq8m8m5ZpO7bJc4pKJq8JbS7a0mDfj9qkXo";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(matches!(
            Password::new(""),
            Err(IdentityError::EmptyPassword)
        ));
        assert!(matches!(
            Password::new("short"),
            Err(IdentityError::PasswordTooShort { min: 8 })
        ));
        assert!(matches!(
            Password::new("x".repeat(1025)),
            Err(IdentityError::PasswordTooLong { max: 1024 })
        ));
        assert!(Password::new("correct horse").is_ok());
        assert_eq!(
            format!("{:?}", Password::attempt("secret")),
            "Password(***)"
        );
        assert_eq!(Password::attempt("é".repeat(600)).expose().len(), 1024);
    }

    #[test]
    fn the_reused_work_area_agrees_with_the_crate_both_ways() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let mut area = WorkArea::default();
        let ours = area.hash(b"correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        let theirs = Argon2::default()
            .hash_password(b"battery staple")
            .unwrap()
            .to_string();
        assert!(area.verify(b"battery staple", &theirs));
        assert!(!area.verify(b"battery stapler", &theirs));
        assert!(!area.verify(b"x", "not a phc string"));
    }

    #[tokio::test]
    async fn a_busy_hasher_refuses_instead_of_queueing() {
        let hasher = Hasher::new(1, Duration::ZERO);
        // Hold the only worker's permit, as a long hash would.
        let _held = hasher.permits.clone().acquire_owned().await.unwrap();
        let attempt = hasher.verify(Password::attempt("x"), None);
        assert!(matches!(attempt.await, Err(IdentityError::Busy)));
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = Password::generate().unwrap();
        let b = Password::generate().unwrap();
        assert_eq!(a.expose().len(), 20);
        assert_ne!(a.expose(), b.expose());
        assert!(Password::new(a.expose()).is_ok());
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_do() {
        let hasher = Hasher::new(1, HASH_WAIT);
        let hash = hasher
            .hash(Password::new("correct horse").unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let verify = |attempt: &str, stored: Option<String>| {
            hasher.verify(Password::attempt(attempt), stored)
        };
        assert!(verify("correct horse", Some(hash.clone())).await.unwrap());
        assert!(!verify("wrong horse", Some(hash)).await.unwrap());
        assert!(!verify("anything", None).await.unwrap());
        assert!(
            PasswordHash::new(DUMMY_HASH).is_ok(),
            "dummy hash must parse"
        );
    }
}
