//! A `spiegel serve` process on loopback and a minimal HTTP/1.1 client for talking to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::p;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) api: String,
    pub(crate) admin: String,
}

impl Server {
    pub(crate) fn start(reports: &Path, data: &Path) -> Self {
        Self::start_with(reports, data, &[])
    }

    /// A server whose webhooks may only reach loopback (tests touch nothing else).
    pub(crate) fn start_with(reports: &Path, data: &Path, extra: &[&str]) -> Self {
        Self::spawn(serve_command(reports, data).args(extra))
    }

    /// Starts `command` (a `spiegel serve` on ports of its choice) and reads where it listens.
    pub(crate) fn spawn(command: &mut Command) -> Self {
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "listening on http(s)://127.0.0.1:P (admin http://127.0.0.1:Q)"
        let addresses: Vec<String> = line
            .split("://")
            .skip(1)
            .map(|a| {
                a.trim_end_matches([')', '\n', ' '])
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(addresses.len(), 2, "{line}");
        Self {
            child,
            api: addresses[0].clone(),
            admin: addresses[1].clone(),
        }
    }
}

/// `spiegel serve` on ports of its choice, its webhooks limited to loopback; `reports` is a
/// directory or an `s3://` location.
pub(crate) fn serve_command(reports: impl AsRef<std::ffi::OsStr>, data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spiegel"));
    command.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--data-dir",
        p(data),
        "--webhook-targets",
        "loopback",
    ]);
    command.arg("--reports").arg(reports);
    command
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET over plain HTTP/1.1: status and body.
pub(crate) fn get(address: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
    request("GET", address, path, headers, "")
}

/// A request over plain HTTP/1.1: status and body.
pub(crate) fn request(
    method: &str,
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<u8>) {
    exchange(
        TcpStream::connect(address).unwrap(),
        method,
        address,
        path,
        headers,
        body,
    )
    .unwrap()
}

/// One request over an open connection (plain or TLS), which the server then closes: status
/// and body, or the error of a connection the server refused (a TLS alert, a reset).
pub(crate) fn exchange(
    mut stream: impl Read + Write,
    method: &str,
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP response"))?;
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = response[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, body))
}

pub(crate) fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

/// A response: status, head (lower-cased) and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The value of a response header.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
    }
}

/// Sends a request whose body comes from `chunks` (chunked transfer encoding unless `length`
/// is given), reading the answer on another thread all along: a server that refuses an upload
/// answers before the body is complete, and the sender stops as soon as it is refused.
pub(crate) fn send(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: Option<u64>,
    chunks: impl IntoIterator<Item = Vec<u8>>,
) -> Answer {
    let mut stream = TcpStream::connect(address).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let answer = std::thread::spawn(move || {
        let mut response = Vec::new();
        let mut buf = [0u8; 65536];
        // A reset after the answer (the server closing on an unread body) ends the read.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
        }
        response
    });
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    match length {
        Some(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        None => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut open = stream.write_all(head.as_bytes()).is_ok();
    for chunk in chunks {
        if !open {
            break;
        }
        open = if length.is_some() {
            stream.write_all(&chunk).is_ok()
        } else {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| stream.write_all(&chunk))
                .and_then(|()| stream.write_all(b"\r\n"))
                .is_ok()
        };
    }
    if open && length.is_none() {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    let response = answer.join().unwrap();
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {}", String::from_utf8_lossy(&response)));
    let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = response[end + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Answer { status, head, body }
}

/// A request with a small body.
pub(crate) fn call(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    send(
        address,
        method,
        path,
        headers,
        Some(body.len() as u64),
        [body.to_vec()],
    )
}

/// The peak resident memory of a process so far, in bytes (Linux).
pub(crate) fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}
