//! A standalone sandbox in the test process, a small SMS workspace whose `test` environment
//! points at it, and a `herald serve` child process.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStderr, Command as StdCommand, Stdio};

use assert_cmd::Command;
use herald_sandbox::{InboundForward, RunningSandbox, SandboxConfig};

use crate::support::TestWorkspace;

/// The ledger key of every test workspace (a `genesys` environment needs one).
pub(crate) const LEDGER_KEY: &str =
    "405e528c8fff51c4270e13fd9a748dddb4876097f89459d8147a51c6d908e3b7";
/// A webhook secret (at least 16 bytes).
pub(crate) const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789";

/// The audience: four SMS recipients, rows `C-1` … `C-4`.
pub(crate) const PHONES: [&str; 4] = [
    "+12125550100",
    "+13125550101",
    "+14155550102",
    "+13035550103",
];

/// A runtime plus a running sandbox.
pub(crate) struct Sandbox {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) sandbox: Option<RunningSandbox>,
}

impl Sandbox {
    /// Starts a sandbox with instant delivery, no rate limit and optional reply forwarding.
    pub(crate) fn start(forward_to: Option<&str>) -> Sandbox {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = SandboxConfig {
            delivery_step_ms: 0,
            rate_limit_per_minute: None,
            inbound_forward: forward_to.map(|url| InboundForward {
                url: url.to_owned(),
                secret: WEBHOOK_SECRET.to_owned(),
            }),
            ..SandboxConfig::default()
        };
        let sandbox = rt
            .block_on(herald_sandbox::start(
                config,
                "127.0.0.1:0".parse().unwrap(),
            ))
            .unwrap();
        Sandbox {
            rt,
            sandbox: Some(sandbox),
        }
    }

    pub(crate) fn get(&self) -> &RunningSandbox {
        self.sandbox.as_ref().unwrap()
    }

    /// Numbers the sandbox accepted messages to.
    pub(crate) fn recipients(&self) -> Vec<String> {
        self.rt
            .block_on(self.get().messages())
            .unwrap()
            .into_iter()
            .map(|m| m.to)
            .collect()
    }

    /// Injects an inbound reply (forwarded to `herald serve` when configured).
    pub(crate) fn reply(&self, from: &str, text: &str) {
        self.rt.block_on(self.get().inbound(from, text)).unwrap();
    }

    /// `GET url` → (status, body).
    pub(crate) fn get_json(&self, url: &str) -> (u16, serde_json::Value) {
        self.rt.block_on(async {
            let resp = reqwest::get(url).await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or(serde_json::Value::Null))
        })
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// A workspace with one SMS campaign (`notify`, any hour, no schedule) over [`PHONES`] and a
/// `test` environment at `base_url` (written by [`point_at`]).
pub(crate) fn workspace(base_url: &str) -> TestWorkspace {
    let ws = TestWorkspace::empty();
    point_at(&ws, base_url);
    ws.write("sandbox.secret", "herald-sandbox-secret\n");
    chmod(&ws, "sandbox.secret", 0o600);
    ws.write(
        "templates/notify.yaml",
        "kind: Template\nname: notify\nchannel: sms\ncategory: transactional\nstatus: published\n\
         body: \"Order {{order_id}} shipped. Reply STOP to opt out.\"\n\
         variables:\n  order_id: { description: Order, example: ORD-1, max_length: 20 }\n",
    );
    let mut csv = String::from("customer_id,phone,tz,order_id\n");
    for (i, p) in PHONES.iter().enumerate() {
        let _ = writeln!(csv, "C-{},{p},America/New_York,ORD-{}", i + 1, i + 1);
    }
    ws.write("campaigns/data/customers.csv", &csv);
    ws.write(
        "campaigns/customers.yaml",
        "kind: Audience\nname: customers\nsource: { csv: data/customers.csv }\nkey: customer_id\naddress: phone\ntimezone: tz\n",
    );
    ws.write(
        "campaigns/notify.yaml",
        "kind: Campaign\nname: notify\ntemplate: notify\naudience: customers\nfrom: \"+15550001111\"\n\
         variables:\n  order_id: { column: order_id }\nstatus: active\nsend_window: none\n",
    );
    ws
}

/// (Re)writes herald.yaml with the `test` environment at `base_url`.
pub(crate) fn point_at(ws: &TestWorkspace, base_url: &str) {
    ws.write(
        "herald.yaml",
        &format!(
            "environments:\n  test:\n    target: genesys\n    base_url: {base_url}\n    client_id: herald-sandbox\n    secret_file: sandbox.secret\n\
             default_environment: test\npolicy:\n  extra_opt_out_keywords: [REMOVE]\n"
        ),
    );
}

pub(crate) fn chmod(ws: &TestWorkspace, rel: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(ws.path().join(rel), std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `herald ARGS` in the workspace with the ledger key and webhook secret set.
pub(crate) fn herald(ws: &TestWorkspace) -> Command {
    let mut cmd = ws.herald();
    cmd.env("HERALD_LEDGER_KEY", LEDGER_KEY)
        .env("HERALD_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("HERALD_NOW", "2026-11-25T15:00:00Z")
        .env_remove("HERALD_ENV");
    cmd
}

/// A running `herald serve --listen 127.0.0.1:0`; killed (by its own handle) on drop.
pub(crate) struct Served {
    pub(crate) child: Child,
    /// `http://127.0.0.1:PORT/v1/inbound`, as printed.
    pub(crate) url: String,
    stderr: Option<ChildStderr>,
}

impl Served {
    /// Starts `herald serve` with `secret` (`None`: no `HERALD_WEBHOOK_SECRET`).
    pub(crate) fn start(ws: &TestWorkspace, secret: Option<&str>) -> Served {
        let mut cmd = StdCommand::new(env!("CARGO_BIN_EXE_herald"));
        cmd.current_dir(ws.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("NO_COLOR", "1")
            .env("HERALD_LEDGER_KEY", LEDGER_KEY)
            .env_remove("HERALD_ENV")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match secret {
            Some(s) => cmd.env("HERALD_WEBHOOK_SECRET", s),
            None => cmd.env_remove("HERALD_WEBHOOK_SECRET"),
        };
        let mut child = cmd.spawn().expect("spawn herald serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/v1/inbound"));
        let stderr = child.stderr.take();
        Served { child, url, stderr }
    }

    /// Sends SIGTERM and waits: (exit code, stderr).
    pub(crate) fn terminate(mut self) -> (Option<i32>, String) {
        let status = StdCommand::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let code = self.child.wait().unwrap().code();
        let mut err = String::new();
        if let Some(e) = self.stderr.take() {
            use std::io::Read as _;
            BufReader::new(e).read_to_string(&mut err).unwrap();
        }
        (code, err)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
