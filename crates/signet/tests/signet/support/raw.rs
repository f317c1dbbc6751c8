//! One TCP connection spoken to by hand: for what reqwest cannot send (a
//! second `Host`, an absolute-form target, raw header bytes) and to see what
//! happens to a keep-alive connection after a response.

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::server::Server;

/// One connection to the server, with what it has sent and not yet been read.
pub struct Raw {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// Whether the server said it closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Reads and writes give up after this long, so a server that neither
/// answers nor closes fails the test instead of hanging it.
const RAW_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

impl Raw {
    pub async fn connect(server: &Server) -> Raw {
        Raw {
            stream: tokio::net::TcpStream::connect(server.running.local_addr)
                .await
                .unwrap(),
            buffer: Vec::new(),
        }
    }

    /// Writes bytes; an error means the server has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        tokio::time::timeout(RAW_PATIENCE, self.stream.write_all(bytes))
            .await
            .map_err(|_| std::io::Error::other("write timed out"))?
    }

    /// More bytes from the server; false once it has closed the connection.
    async fn fill(&mut self) -> bool {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(RAW_PATIENCE, self.stream.read(&mut chunk))
            .await
            .expect("the server neither answered nor closed the connection")
        {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next response (interim ones such as `100 Continue` included), or
    /// None when the server closes the connection before sending one.
    pub async fn response(&mut self) -> Option<RawResponse> {
        let head_end = loop {
            if let Some(i) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if !self.fill().await {
                assert!(self.buffer.is_empty(), "connection closed mid-response");
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buffer[..head_end]).into_owned();
        self.buffer.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, Vec<u8>)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.to_owned(), value.trim().as_bytes().to_vec())
            })
            .collect();
        let mut response = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if status < 200 || status == 204 || status == 304 {
            return Some(response);
        }
        if let Some(length) = response.header("content-length") {
            let length: usize = length.parse().unwrap();
            while self.buffer.len() < length {
                assert!(self.fill().await, "connection closed mid-body");
            }
            response.body = self.buffer.drain(..length).collect();
        } else if response
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let line_end = loop {
                    if let Some(i) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    assert!(self.fill().await, "connection closed mid-chunk");
                };
                let size = String::from_utf8_lossy(&self.buffer[..line_end]).into_owned();
                let size =
                    usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
                while self.buffer.len() < line_end + 2 + size + 2 {
                    assert!(self.fill().await, "connection closed mid-chunk");
                }
                response
                    .body
                    .extend_from_slice(&self.buffer[line_end + 2..line_end + 2 + size]);
                self.buffer.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        } else {
            while self.fill().await {}
            response.body = std::mem::take(&mut self.buffer);
        }
        Some(response)
    }

    /// Whether the server has closed the connection (nothing more to read).
    pub async fn closed_by_server(&mut self) -> bool {
        self.buffer.is_empty() && !self.fill().await
    }
}

/// The `Host` the server answers to as its own (its listening address).
pub fn host_of(server: &Server) -> String {
    server.running.local_addr.to_string()
}

/// One request on a fresh connection: `head` is the request line and
/// headers without the final blank line.
pub async fn exchange_raw(server: &Server, head: &[u8], body: &[u8]) -> RawResponse {
    let mut raw = Raw::connect(server).await;
    let mut request = head.to_vec();
    request.extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
    request.extend_from_slice(body);
    raw.send(&request).await.unwrap();
    raw.response().await.expect("an answer")
}

/// Either the response said `Connection: close` and the server closed, or
/// the next request on the same connection is answered.
pub async fn assert_connection_usable_or_closed(
    raw: &mut Raw,
    first: &RawResponse,
    host: &str,
    what: &str,
) {
    if first.closes() {
        assert!(
            raw.closed_by_server().await,
            "{what}: said close, kept open"
        );
        return;
    }
    raw.send(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{what}: connection kept but unusable: {e}"));
    let second = raw.response().await.unwrap_or_else(|| {
        panic!("{what}: no Connection: close, yet the next request got no answer")
    });
    assert_eq!(second.status, 200, "{what}");
}
