//! Outside tools that judge what Signet made: poppler's `pdfsig`, pyHanko
//! (PyPI), OpenSSL for an operator's certificates, and certomancer's
//! RFC 3161 time-stamp authority on loopback. Outside CI a missing tool
//! skips the check with a note; under `CI=true` it is a failure.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Runs `program`; `None` when it is not installed (outside CI).
fn run(program: &str, args: &[&str], dir: Option<&Path>) -> Option<std::process::Output> {
    let mut command = Command::new(program);
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    match command.output() {
        Ok(output) => Some(output),
        Err(_) if !ci() => {
            eprintln!("note: {program} is not installed; its check is skipped");
            None
        }
        Err(e) => panic!("{program} must be installed under CI=true: {e}"),
    }
}

fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

/// `pdfsig`'s report on `pdf`.
pub fn pdfsig(pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(dir.path(), "file.pdf", pdf);
    run("pdfsig", &["-nocert", &path], None)
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// pyHanko's verdict on `pdf`'s signature, trusting the certificates of
/// `trust_pems` only: whether it exited 0, and what it printed.
pub fn pyhanko(pdf: &[u8], trust_pems: &[&str]) -> Option<(bool, String)> {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(dir.path(), "file.pdf", pdf);
    let mut args = vec![
        "sign".to_owned(),
        "validate".to_owned(),
        "--pretty-print".to_owned(),
        "--no-revocation-check".to_owned(),
        "--trust-replace".to_owned(),
    ];
    for (i, pem) in trust_pems.iter().enumerate() {
        args.push("--trust".to_owned());
        args.push(write_temp(
            dir.path(),
            &format!("trust{i}.pem"),
            pem.as_bytes(),
        ));
    }
    args.push(path);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run("pyhanko", &args, None)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((output.status.success(), text))
}

/// Runs openssl in `dir`, which must succeed.
pub fn openssl(dir: &Path, args: &[&str]) -> Option<()> {
    let output = run("openssl", args, Some(dir))?;
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(())
}

/// An operator's PKCS#12 seal (RSA, issued by a CA of theirs) in `dir`,
/// protected by `password`; returns its path.
pub fn operator_pkcs12(dir: &Path, password: &str) -> Option<String> {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Acme Root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    )?;
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "seal.key",
            "-out",
            "seal.csr",
            "-subj",
            "/CN=Acme seal/O=Acme",
        ],
    )?;
    std::fs::write(
        dir.join("ext.cnf"),
        "keyUsage=critical,digitalSignature,nonRepudiation\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "seal.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "seal.pem",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
        ],
    )?;
    let pass = format!("pass:{password}");
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "seal.key",
            "-in",
            "seal.pem",
            "-certfile",
            "ca.pem",
            "-out",
            "seal.p12",
            "-passout",
            &pass,
        ],
    )?;
    Some(dir.join("seal.p12").display().to_string())
}

/// certomancer's time-stamp authority, listening on loopback until dropped.
#[derive(Debug)]
pub struct Tsa {
    _child: tokio::process::Child,
    dir: tempfile::TempDir,
}

impl Tsa {
    /// The root the TSA's certificate chains to, PEM, for readers to trust.
    pub fn root_pem(&self) -> String {
        let config = self.dir.path().join("certomancer.yml");
        let output = Command::new("certomancer")
            .arg("--config")
            .arg(&config)
            .args(["summon", "--ignore-tty", "signet", "root"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

/// A port nobody listens on right now (for a TSA that is down, or to come).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts certomancer's Animator on `port` with a throwaway root and TSA.
pub async fn tsa_on(port: u16) -> Option<Tsa> {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    for name in ["root", "tsa"] {
        openssl(
            &keys,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &format!("{name}.key.pem"),
            ],
        )?;
    }
    let config = dir.path().join("certomancer.yml");
    std::fs::write(
        &config,
        format!(include_str!("certomancer.yml"), port = port),
    )
    .unwrap();
    let child = match tokio::process::Command::new("certomancer")
        .arg("--config")
        .arg(&config)
        .args(["animate", "--no-web-ui", "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(_) if !ci() => {
            eprintln!("note: certomancer is not installed; the timestamp check is skipped");
            return None;
        }
        Err(e) => panic!("certomancer must be installed under CI=true: {e}"),
    };
    // Ready when it accepts connections (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "certomancer did not start on {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(Tsa { _child: child, dir })
}
