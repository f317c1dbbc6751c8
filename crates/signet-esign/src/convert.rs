//! Word documents (DOCX) into PDF, with LibreOffice in headless mode.
//!
//! Every conversion gets a fresh temporary directory holding the input, the
//! output directory and a private LibreOffice profile: LibreOffice refuses to
//! share a profile between running instances, and a fresh one carries no
//! state from one document to the next. Only one conversion runs at a time
//! in the process, since LibreOffice is heavy (one conversion of a small
//! document takes about a second of one core, most of it start-up).
//!
//! # Network and local files
//!
//! Checked against LibreOffice 7.4 with a listener on the loopback address:
//! by default a headless `--convert-to` *does* fetch an image a DOCX links
//! to (a DrawingML picture whose relationship is `TargetMode="External"`:
//! OPTIONS, HEAD and GET requests), and it embeds a linked `file:` image.
//! The private profile therefore turns links off
//! ([`PROFILE_SETTINGS`]: Writer's link updates "never" and
//! `BlockUntrustedRefererLinks`, each of which alone stopped both) and macros
//! too. With them no request was made for linked DrawingML or VML pictures,
//! `INCLUDEPICTURE`/`INCLUDETEXT` fields, subdocuments, linked OLE objects or
//! an attached template. That a document can never make LibreOffice reach
//! the network cannot be fully excluded: where it matters, run Signet where
//! outgoing connections are filtered.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;

/// The program looked up on the PATH when nothing is configured.
const DEFAULT_PROGRAM: &str = "soffice";
/// How long one conversion may run, LibreOffice's start-up included.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest PDF accepted from LibreOffice.
const MAX_PDF_BYTES: u64 = 50 * 1024 * 1024;
/// How much of LibreOffice's stdout and stderr is kept for the log.
const MAX_OUTPUT_BYTES: usize = 16 * 1024;
/// The input's name in the work directory; LibreOffice names its output
/// after it (`document.pdf`).
const INPUT_NAME: &str = "document.docx";
const OUTPUT_NAME: &str = "document.pdf";

/// One conversion at a time in this process, whatever the converter.
static ONE_AT_A_TIME: Semaphore = Semaphore::const_new(1);

/// The private profile's settings (`user/registrymodifications.xcu`): never
/// update links, block linked content from untrusted places, no macros.
const PROFILE_SETTINGS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Writer/Content/Update"><prop oor:name="Link" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
</oor:items>
"#;

/// Environment variables LibreOffice keeps; everything else (the server's
/// settings, secrets among them) is withheld from it.
const KEPT_ENVIRONMENT: &[&str] = &["PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ"];

/// Turns Word documents into PDF with LibreOffice (`soffice --headless`).
#[derive(Clone, Debug)]
pub struct DocxConverter {
    /// `None`: conversion is off.
    program: Option<PathBuf>,
    timeout: Duration,
}

/// Why a Word document could not be turned into PDF. The messages are safe
/// to show to a user; details go to the log.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// This server has no converter.
    #[error("This server cannot convert Word documents to PDF; send the document as a PDF instead")]
    Unavailable,
    /// LibreOffice did not finish in time and was stopped.
    #[error("The Word document could not be converted to PDF in time")]
    TimedOut,
    #[error("The Word document could not be converted to PDF: {0}")]
    Failed(String),
}

impl DocxConverter {
    /// From the `SIGNET_DOCX_CONVERTER` setting: `None` → `soffice` looked up
    /// on the PATH (disabled if not found); `Some("")` / `Some("none")` /
    /// `Some("off")` → disabled; otherwise the program path (or name on
    /// PATH) given, disabled if there is no such executable.
    pub fn from_setting(setting: Option<&str>) -> Self {
        let program = match setting {
            None => find_program(DEFAULT_PROGRAM),
            Some(off) if Self::turns_off(off) => None,
            Some(program) => find_program(program.trim()),
        };
        Self {
            program,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Whether a `SIGNET_DOCX_CONVERTER` value turns conversion off (`""`,
    /// `none` or `off`, in any case) rather than naming a program.
    pub fn turns_off(setting: &str) -> bool {
        let setting = setting.trim();
        ["", "none", "off"]
            .iter()
            .any(|word| setting.eq_ignore_ascii_case(word))
    }

    pub fn disabled() -> Self {
        Self {
            program: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    #[cfg(test)]
    fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    pub fn available(&self) -> bool {
        self.program.is_some()
    }

    /// The program run, as an absolute path; `None` when conversion is off.
    pub fn program(&self) -> Option<&Path> {
        self.program.as_deref()
    }

    /// The PDF LibreOffice makes of `docx`. Waits while another conversion
    /// runs; the time limit applies to the conversion itself.
    pub async fn to_pdf(&self, docx: &[u8]) -> Result<Vec<u8>, ConvertError> {
        let program = self.program.as_deref().ok_or(ConvertError::Unavailable)?;
        if !crate::pdf::is_docx(docx) {
            return Err(failed("it is not a Word (.docx) document"));
        }
        // Never closed, so acquiring cannot fail.
        let _permit = ONE_AT_A_TIME
            .acquire()
            .await
            .map_err(|_| ConvertError::Unavailable)?;
        let started = Instant::now();
        let work = WorkDir::create(docx).await?;
        let result = self.convert(program, &work).await;
        work.remove().await;
        if let Ok(pdf) = &result {
            tracing::debug!(
                elapsed_ms = started.elapsed().as_millis(),
                docx_bytes = docx.len(),
                pdf_bytes = pdf.len(),
                "converted a Word document to PDF"
            );
        }
        result
    }

    async fn convert(&self, program: &Path, work: &WorkDir) -> Result<Vec<u8>, ConvertError> {
        let mut child = work.command(program).spawn().map_err(|error| {
            tracing::warn!(program = %program.display(), %error, "could not start the DOCX converter");
            failed("the converter could not be started")
        })?;
        // Declared after `child`, so dropped first: if this future is
        // dropped midway, the group dies while its leader is not yet reaped.
        let mut group = ProcessGroup::of(&child);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let run = async {
            let (stdout, stderr) = tokio::join!(read_bounded(stdout), read_bounded(stderr));
            // Reaped only after the pipes closed: until then the leader's
            // PID (the group's ID) cannot be reused, so killing the group
            // on time-out hits only LibreOffice.
            (child.wait().await, stdout, stderr)
        };
        let (status, stdout, stderr) = match tokio::time::timeout(self.timeout, run).await {
            Ok(finished) => {
                group.disarm();
                finished
            }
            Err(_) => {
                group.kill();
                stop(&mut child).await;
                tracing::warn!(timeout = ?self.timeout, "DOCX conversion timed out; LibreOffice was killed");
                return Err(ConvertError::TimedOut);
            }
        };
        let output = Output { stdout, stderr };
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => return Err(output.failure(&status.to_string(), "LibreOffice failed")),
            Err(error) => return Err(output.failure(&error.to_string(), "LibreOffice failed")),
        }
        // LibreOffice exits with 0 when it cannot load the input, writing
        // "Error: source file could not be loaded" and no output file.
        let pdf_path = work.out.join(OUTPUT_NAME);
        let size = match tokio::fs::symlink_metadata(&pdf_path).await {
            Ok(metadata) if metadata.is_file() => metadata.len(),
            _ => {
                return Err(output.failure("no PDF was written", "LibreOffice could not read it"));
            }
        };
        if size > MAX_PDF_BYTES {
            tracing::warn!(size, "the PDF made of a Word document is too large");
            return Err(failed(&format!(
                "the PDF is larger than {} MB",
                MAX_PDF_BYTES / (1024 * 1024)
            )));
        }
        let pdf = tokio::fs::read(&pdf_path)
            .await
            .map_err(|error| output.failure(&error.to_string(), "its PDF could not be read"))?;
        if let Err(error) = crate::pdf::inspect(&pdf) {
            return Err(output.failure(&error.to_string(), "its PDF is unusable"));
        }
        Ok(pdf)
    }
}

fn failed(reason: &str) -> ConvertError {
    ConvertError::Failed(reason.to_owned())
}

/// `name` as an absolute path if it is an executable file: as given when it
/// has a directory part, otherwise looked up on the PATH.
fn find_program(name: &str) -> Option<PathBuf> {
    let name = Path::new(name);
    let candidates: Vec<PathBuf> = if name.components().count() > 1 {
        vec![name.to_path_buf()]
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .collect()
    };
    candidates
        .into_iter()
        .find(|candidate| is_executable(candidate))
        .and_then(|found| std::path::absolute(found).ok())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A conversion's temporary directory: `document.docx`, `out/`, `profile/`
/// (LibreOffice's user installation) and `tmp/`; also LibreOffice's HOME.
struct WorkDir {
    dir: tempfile::TempDir,
    /// `dir`'s path, absolute.
    root: PathBuf,
    input: PathBuf,
    out: PathBuf,
    /// The profile directory as the `file:` URL LibreOffice takes.
    profile_url: String,
    tmp: PathBuf,
}

impl WorkDir {
    async fn create(docx: &[u8]) -> Result<Self, ConvertError> {
        Self::try_create(docx).await.map_err(|error| {
            tracing::warn!(%error, "could not prepare a directory for DOCX conversion");
            failed("the server could not prepare the conversion")
        })
    }

    async fn try_create(docx: &[u8]) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("signet-docx-").tempdir()?;
        let root = std::path::absolute(dir.path())?;
        let profile = root.join("profile");
        // Never LibreOffice's default profile, shared with other instances.
        let profile_url = url::Url::from_file_path(&profile)
            .map_err(|()| std::io::Error::other("the profile path is not absolute"))?
            .to_string();
        let work = Self {
            input: root.join(INPUT_NAME),
            out: root.join("out"),
            profile_url,
            tmp: root.join("tmp"),
            root,
            dir,
        };
        tokio::fs::create_dir(&work.out).await?;
        tokio::fs::create_dir(&work.tmp).await?;
        tokio::fs::create_dir_all(profile.join("user")).await?;
        tokio::fs::write(
            profile.join("user/registrymodifications.xcu"),
            PROFILE_SETTINGS,
        )
        .await?;
        tokio::fs::write(&work.input, docx).await?;
        Ok(work)
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .args([
                "--headless",
                "--norestore",
                "--nolockcheck",
                "--nodefault",
                "--nologo",
            ])
            .arg(format!("-env:UserInstallation={}", self.profile_url))
            // Without it, type detection makes a PDF of any text file.
            .arg("--infilter=MS Word 2007 XML")
            .args(["--convert-to", "pdf:writer_pdf_Export", "--outdir"])
            .arg(&self.out)
            .arg(&self.input)
            .current_dir(&self.root)
            .env_clear()
            .envs(
                KEPT_ENVIRONMENT
                    .iter()
                    .filter_map(|name| std::env::var_os(name).map(|value| (name, value))),
            )
            .env("HOME", &self.root)
            .env("TMPDIR", &self.tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own group, so that `soffice.bin`, which the `soffice`
            // script starts, can be killed with it.
            .process_group(0);
        command
    }

    /// Removes the directory off the async threads (the profile LibreOffice
    /// fills holds about a hundred files).
    async fn remove(self) {
        let dir = self.dir;
        let removed = tokio::task::spawn_blocking(move || dir.close())
            .await
            .map_err(std::io::Error::other)
            .and_then(|closed| closed);
        if let Err(error) = removed {
            tracing::warn!(%error, "could not remove a DOCX conversion directory");
        }
    }
}

/// The converter's process group, killed when dropped unless disarmed.
struct ProcessGroup(Option<rustix::process::Pid>);

impl ProcessGroup {
    fn of(child: &Child) -> Self {
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw);
        Self(pid)
    }

    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            // ESRCH: everyone in it has already exited.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kills and reaps the group's leader (already dead if the group was
/// killed).
async fn stop(child: &mut Child) {
    if let Err(error) = child.kill().await {
        tracing::warn!(%error, "could not stop the DOCX converter");
    }
}

/// Reads a pipe to its end, keeping the first [`MAX_OUTPUT_BYTES`]: the rest
/// is drained so that the writer never blocks.
async fn read_bounded(pipe: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return kept;
    };
    let mut chunk = [0u8; 4096];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => return kept,
            Ok(read) => {
                let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(chunk.get(..read.min(room)).unwrap_or_default());
            }
        }
    }
}

/// What LibreOffice printed, for the log.
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Output {
    /// Logs `detail` with the output, and gives `reason` to the user (the
    /// output names server paths and is mostly noise).
    fn failure(&self, detail: &str, reason: &str) -> ConvertError {
        tracing::warn!(
            detail,
            stdout = %String::from_utf8_lossy(&self.stdout).trim(),
            stderr = %String::from_utf8_lossy(&self.stderr).trim(),
            "DOCX conversion failed"
        );
        failed(reason)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::pdf::sample_docx;

    /// CI must run every check; elsewhere a missing tool skips one.
    fn in_ci() -> bool {
        std::env::var_os("CI").is_some()
    }

    /// This machine's LibreOffice, or `None` (the test is skipped).
    fn soffice() -> Option<DocxConverter> {
        let converter = DocxConverter::from_setting(None);
        if converter.available() {
            return Some(converter);
        }
        assert!(
            !in_ci(),
            "soffice (libreoffice-writer-nogui) must be installed when CI is set"
        );
        eprintln!("note: soffice not found; DOCX conversion not tested");
        None
    }

    /// The text poppler's `pdftotext` reads, or `None` (not checked).
    fn pdftotext(pdf: &[u8]) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("converted.pdf");
        std::fs::write(&path, pdf).unwrap();
        let output = std::process::Command::new("pdftotext")
            .args(["-enc", "UTF-8"])
            .arg(&path)
            .arg("-")
            .output();
        match output {
            Ok(output) => {
                assert!(output.status.success(), "{output:?}");
                Some(String::from_utf8(output.stdout).unwrap())
            }
            Err(_) => {
                assert!(
                    !in_ci(),
                    "pdftotext (poppler-utils) must be installed when CI is set"
                );
                eprintln!("note: pdftotext not found; the converted text is not checked");
                None
            }
        }
    }

    /// An executable shell script named `soffice` in a fresh directory whose
    /// name holds a marker unique to this test run.
    fn script(body: &str) -> (tempfile::TempDir, PathBuf, String) {
        use std::os::unix::fs::PermissionsExt;
        let marker = format!(
            "signet-fake-soffice-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let dir = tempfile::Builder::new().prefix(&marker).tempdir().unwrap();
        let path = dir.path().join("soffice");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(body.replace("MARKER", &marker).as_bytes())
            .unwrap();
        drop(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, path, marker)
    }

    /// Never finishes: writes its PID (its group's ID) next to itself, then
    /// waits on a child (which names the marker) and a grandchild.
    const HANGS: &str = "#!/bin/sh\necho $$ > \"$(dirname \"$0\")/pgid\"\nsh -c 'sleep 600; : MARKER' &\nsleep 600\n";

    /// Processes still alive (not zombies) whose command line holds
    /// `marker` or that are in process group `group`.
    fn survivors(marker: &str, group: Option<&str>) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let proc_dir = entry.path();
            let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
                continue;
            };
            // pid (comm) state ppid pgrp …; comm may hold spaces.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if matches!(fields.first(), Some(&"Z" | &"X")) {
                continue;
            }
            let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) || (group.is_some() && fields.get(2) == group.as_ref()) {
                found.push(format!("{}: {cmdline}", proc_dir.display()));
            }
        }
        found
    }

    /// Waits a little for killed processes to be gone.
    async fn assert_none_left(dir: &Path, marker: &str) {
        let group = std::fs::read_to_string(dir.join("pgid")).unwrap();
        let group = group.trim();
        let mut left = Vec::new();
        for _ in 0..50 {
            left = survivors(marker, Some(group));
            if left.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("processes left behind: {left:?}");
    }

    #[tokio::test]
    async fn converts_a_docx_with_its_text() {
        let Some(converter) = soffice() else {
            return;
        };
        let paragraphs = ["Hello [[sig_a]] world", "Second paragraph Дмитрий"];
        let docx = sample_docx(&paragraphs);
        let started = Instant::now();
        let pdf = converter.to_pdf(&docx).await.unwrap();
        let first = started.elapsed();
        assert_eq!(crate::pdf::inspect(&pdf).unwrap().pages, 1);
        if let Some(text) = pdftotext(&pdf) {
            for paragraph in paragraphs {
                assert!(
                    text.lines().any(|line| line == paragraph),
                    "{paragraph:?} not in {text:?}"
                );
            }
        }
        let started = Instant::now();
        let again = converter.to_pdf(&docx).await.unwrap();
        eprintln!(
            "DOCX to PDF: first conversion {first:?}, second {:?}",
            started.elapsed()
        );
        assert_eq!(crate::pdf::inspect(&again).unwrap().pages, 1);
    }

    #[tokio::test]
    async fn refuses_what_is_not_a_docx() {
        // Refused before LibreOffice runs, which would make a PDF of text.
        let converter = DocxConverter::from_setting(Some("/bin/false"));
        assert!(converter.available());
        for bytes in [
            &b"hello, not a Word document"[..],
            b"",
            &crate::pdf::sample(1, "A PDF"),
        ] {
            let error = converter.to_pdf(bytes).await.unwrap_err();
            assert!(matches!(error, ConvertError::Failed(_)), "{error:?}");
        }
        assert_eq!(
            converter.to_pdf(b"%PDF").await.unwrap_err().to_string(),
            "The Word document could not be converted to PDF: it is not a Word (.docx) document"
        );
    }

    #[tokio::test]
    async fn a_damaged_docx_fails_quickly() {
        let Some(converter) = soffice() else {
            return;
        };
        // A ZIP header and the entry name, then nothing that reads.
        let mut damaged = sample_docx(&["Cut short"]);
        damaged.truncate(300);
        damaged.extend_from_slice(b"word/document.xml");
        assert!(crate::pdf::is_docx(&damaged));
        let error = converter.to_pdf(&damaged).await.unwrap_err();
        assert!(matches!(error, ConvertError::Failed(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            "The Word document could not be converted to PDF: LibreOffice could not read it"
        );
    }

    #[tokio::test]
    async fn a_failing_converter_fails() {
        let (_dir, program, _) = script("#!/bin/sh\necho oops >&2\nexit 3\n");
        let converter = DocxConverter::from_setting(program.to_str());
        let error = converter.to_pdf(&sample_docx(&["x"])).await.unwrap_err();
        assert!(matches!(error, ConvertError::Failed(_)), "{error:?}");
        // Exits 0 without writing a PDF, as LibreOffice does on bad input.
        let (_dir, program, _) = script("#!/bin/sh\nexit 0\n");
        let converter = DocxConverter::from_setting(program.to_str());
        let error = converter.to_pdf(&sample_docx(&["x"])).await.unwrap_err();
        assert!(matches!(error, ConvertError::Failed(_)), "{error:?}");
        // Writes something that is not a PDF.
        let (_dir, program, _) =
            script("#!/bin/sh\nfor last; do :; done\necho junk > out/document.pdf\n");
        let converter = DocxConverter::from_setting(program.to_str());
        let error = converter.to_pdf(&sample_docx(&["x"])).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "The Word document could not be converted to PDF: its PDF is unusable"
        );
    }

    #[tokio::test]
    async fn disabled_is_unavailable() {
        let docx = sample_docx(&["Hello"]);
        for converter in [
            DocxConverter::disabled(),
            DocxConverter::from_setting(Some("none")),
        ] {
            assert!(!converter.available());
            assert!(matches!(
                converter.to_pdf(&docx).await,
                Err(ConvertError::Unavailable)
            ));
        }
    }

    #[tokio::test]
    async fn a_hanging_converter_times_out_and_is_killed() {
        let (dir, program, marker) = script(HANGS);
        let converter =
            DocxConverter::from_setting(program.to_str()).with_timeout(Duration::from_millis(500));
        let started = Instant::now();
        let result = converter.to_pdf(&sample_docx(&["Hello"])).await;
        assert!(matches!(result, Err(ConvertError::TimedOut)), "{result:?}");
        // Possibly after waiting for another test's real conversion.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            ConvertError::TimedOut.to_string(),
            "The Word document could not be converted to PDF in time"
        );
        assert_none_left(dir.path(), &marker).await;
    }

    #[tokio::test]
    async fn libreoffice_timed_out_is_killed_whole() {
        let Some(converter) = soffice() else {
            return;
        };
        // 400 pages, about 4 s: `soffice.bin` (which `oosplash`, the direct
        // child, starts) is still at work when the time is up, and would
        // survive a kill of the direct child alone.
        let paragraphs: Vec<String> = (0..20_000)
            .map(|n| format!("Paragraph {n} of a long document"))
            .collect();
        let paragraphs: Vec<&str> = paragraphs.iter().map(String::as_str).collect();
        let converter = converter.with_timeout(Duration::from_millis(1500));
        let result = converter.to_pdf(&sample_docx(&paragraphs)).await;
        assert!(matches!(result, Err(ConvertError::TimedOut)), "{result:?}");
        // No conversion can start while this holds the permit, so any
        // process naming a work directory is one left behind.
        let _permit = ONE_AT_A_TIME.acquire().await.unwrap();
        // Killed processes are gone at once; an orphaned `soffice.bin`
        // would stop only later, once its work directory was removed.
        let mut left = Vec::new();
        for _ in 0..10 {
            left = survivors("signet-docx-", None);
            if left.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("LibreOffice processes left behind: {left:?}");
    }

    #[tokio::test]
    async fn a_dropped_conversion_kills_the_converter() {
        let (dir, program, marker) = script(HANGS);
        let converter = DocxConverter::from_setting(program.to_str());
        let docx = sample_docx(&["Hello"]);
        let mut converting = Box::pin(converter.to_pdf(&docx));
        // Until the script has started (after any other test's conversion).
        let started = Instant::now();
        while !dir.path().join("pgid").exists() {
            assert!(started.elapsed() < Duration::from_secs(30));
            let _ = tokio::time::timeout(Duration::from_millis(50), &mut converting).await;
        }
        drop(converting);
        assert_none_left(dir.path(), &marker).await;
    }

    #[test]
    fn from_setting() {
        assert_eq!(
            DocxConverter::from_setting(None).program(),
            find_program("soffice").as_deref()
        );
        for off in ["", "none", "off", " Off ", "NONE"] {
            assert!(
                !DocxConverter::from_setting(Some(off)).available(),
                "{off:?}"
            );
        }
        assert!(!DocxConverter::disabled().available());
        assert!(!DocxConverter::from_setting(Some("/nonexistent/soffice")).available());
        assert!(!DocxConverter::from_setting(Some("no-such-program-signet")).available());
        // A name is looked up on the PATH.
        let sh = DocxConverter::from_setting(Some("sh"));
        let found = sh.program().unwrap();
        assert!(found.is_absolute() && found.ends_with("sh"), "{found:?}");
        // A path is taken as given, if it is an executable file.
        let (dir, program, _) = script("#!/bin/sh\n");
        let given = DocxConverter::from_setting(program.to_str());
        assert_eq!(given.program(), Some(program.as_path()));
        let plain = dir.path().join("not-executable");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        assert!(!DocxConverter::from_setting(plain.to_str()).available());
        assert!(!DocxConverter::from_setting(dir.path().to_str()).available());
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            ConvertError::Unavailable.to_string(),
            "This server cannot convert Word documents to PDF; send the document as a PDF instead"
        );
        assert_eq!(
            ConvertError::Failed("it is not a Word (.docx) document".to_owned()).to_string(),
            "The Word document could not be converted to PDF: it is not a Word (.docx) document"
        );
    }
}
