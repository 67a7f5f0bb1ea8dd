//! A small Chrome DevTools Protocol client for the browser tests: launches Debian's headless
//! Chromium on loopback and drives it over one WebSocket (flattened target sessions).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// How long one protocol call or page load may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A running headless Chromium.
pub(crate) struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    next_id: u64,
    /// Events received while waiting for responses, oldest first.
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

/// One tab.
pub(crate) struct Tab {
    session: String,
}

impl Browser {
    /// Starts `binary` with the flags the CI machine needs and connects to it.
    pub(crate) fn launch(binary: &str) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {binary}: {e}; scripts/test.sh installs Debian's chromium, \
                     or set SPIEGEL_TEST_CHROMIUM"
                )
            });
        let stderr = child.stderr.take().unwrap();
        let (found, url) = mpsc::channel();
        // Chromium keeps writing to stderr; drain it for as long as it runs.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    let _ = found.send(line[at..].trim().to_owned());
                }
            }
        });
        let url = url
            .recv_timeout(TIMEOUT)
            .expect("Chromium did not print its DevTools address");
        let address = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        assert!(
            address.starts_with("127.0.0.1:"),
            "DevTools not on loopback: {address}"
        );
        let stream = TcpStream::connect(&address).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let (socket, _) = tungstenite::client(url.as_str(), stream).unwrap();
        Self {
            child,
            socket,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        }
    }

    /// Sends a command and waits for its result; events that arrive meanwhile are kept.
    pub(crate) fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .unwrap();
        let started = Instant::now();
        loop {
            assert!(started.elapsed() < TIMEOUT, "{method}: no answer");
            let incoming = self.read();
            if incoming["id"] == json!(id) {
                if let Some(error) = incoming.get("error") {
                    panic!("{method} failed: {error}");
                }
                return incoming["result"].clone();
            }
            if incoming.get("method").is_some() {
                self.events.push(incoming);
            }
        }
    }

    fn read(&mut self) -> Value {
        loop {
            match self.socket.read().unwrap() {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Binary(bytes) => return serde_json::from_slice(&bytes).unwrap(),
                _ => {}
            }
        }
    }

    /// A new tab with console, log and page events enabled.
    pub(crate) fn tab(&mut self) -> Tab {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        let session = attached["sessionId"].as_str().unwrap().to_owned();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            self.call(Some(&session), domain, json!({}));
        }
        Tab { session }
    }

    /// Loads `url` in `tab` and waits for its load event.
    pub(crate) fn navigate(&mut self, tab: &Tab, url: &str) {
        self.events.clear();
        self.call(Some(&tab.session), "Page.navigate", json!({"url": url}));
        let started = Instant::now();
        while !self
            .events
            .iter()
            .any(|e| e["method"] == "Page.loadEventFired" && e["sessionId"] == json!(tab.session))
        {
            assert!(started.elapsed() < TIMEOUT, "{url} did not load");
            let incoming = self.read();
            if incoming.get("method").is_some() {
                self.events.push(incoming);
            }
        }
    }

    /// Console errors, uncaught exceptions and error log entries (a refused resource, a
    /// Content-Security-Policy violation) of `tab` since its last navigation.
    pub(crate) fn errors(&mut self, tab: &Tab) -> Vec<String> {
        // Let late messages of the load arrive.
        self.evaluate(tab, "1");
        self.events
            .iter()
            .filter(|e| e["sessionId"] == json!(tab.session))
            .filter_map(|e| {
                let params = &e["params"];
                match e["method"].as_str()? {
                    "Runtime.consoleAPICalled" if params["type"] == "error" => {
                        Some(format!("console.error: {}", params["args"]))
                    }
                    "Runtime.exceptionThrown" => Some(format!("exception: {params}")),
                    "Log.entryAdded" if params["entry"]["level"] == "error" => {
                        Some(format!("log: {}", params["entry"]["text"]))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// The value of a JavaScript expression evaluated in the page.
    pub(crate) fn evaluate(&mut self, tab: &Tab, expression: &str) -> Value {
        let result = self.call(
            Some(&tab.session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Emulates a screen of `width` CSS pixels, for `media` (`screen` or `print`).
    pub(crate) fn emulate(&mut self, tab: &Tab, width: u32, media: &str) {
        self.call(
            Some(&tab.session),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 1200, "deviceScaleFactor": 1, "mobile": false}),
        );
        self.call(
            Some(&tab.session),
            "Emulation.setEmulatedMedia",
            json!({"media": media}),
        );
    }

    /// A PNG of the whole page.
    pub(crate) fn screenshot(&mut self, tab: &Tab) -> Vec<u8> {
        let metrics = self.call(Some(&tab.session), "Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let shot = self.call(
            Some(&tab.session),
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            }),
        );
        decode(&shot["data"])
    }

    /// The page printed to PDF with its own `@page` size (A4).
    pub(crate) fn pdf(&mut self, tab: &Tab) -> Vec<u8> {
        let printed = self.call(
            Some(&tab.session),
            "Page.printToPDF",
            json!({"preferCSSPageSize": true, "printBackground": true}),
        );
        decode(&printed["data"])
    }
}

fn decode(data: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(data.as_str().unwrap())
        .unwrap()
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.socket.send(Message::text(
            json!({"id": 0, "method": "Browser.close", "params": {}}).to_string(),
        ));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
