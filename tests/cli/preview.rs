//! `herald preview`: the reviewer's page for the example workspace, read back with an HTML
//! parser, and opened in headless Chromium (screenshot, console errors, element sizes).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scraper::{ElementRef, Html, Selector};

use crate::support::{TestWorkspace, repo_root, run};

/// 10:00 in New York, 07:00 in Los Angeles.
const NOW: &str = "2026-12-02T15:00:00Z";

/// The winter-sale edit a reviewer is asked to approve: one changed word and two typographic
/// characters that make the message UCS-2 and three segments long.
const OLD_WORDS: &str = "until Sunday.";
const NEW_WORDS: &str = "until Monday — don’t miss it.";

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("selector")
}

fn text_of(e: ElementRef<'_>) -> String {
    e.text().collect()
}

/// The example workspace after a first apply, with winter-sale then edited (an update with a
/// diff against Genesys).
fn reviewed_workspace() -> TestWorkspace {
    let ws = TestWorkspace::example();
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "apply: {err}");
    let path = "templates/winter-sale.yaml";
    let yaml = ws.read(path);
    assert!(yaml.contains(OLD_WORDS), "the example template changed");
    ws.write(path, &yaml.replace(OLD_WORDS, NEW_WORDS));
    ws
}

/// Runs `herald preview --out site ARGS` and returns the page.
fn preview(ws: &TestWorkspace, args: &[&str]) -> String {
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["preview", "--out", "site"])
        .args(args));
    assert_eq!(code, 0, "preview: {err}");
    assert!(err.contains("site/index.html"), "{err}");
    ws.read("site/index.html")
}

/// Every phone number and email address in the audience data files.
fn audience_addresses(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("campaigns/data")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for token in text.split([',', '"', ' ', '\n', '{', '}', ':']) {
            let phone = token.starts_with('+')
                && token.len() >= 9
                && token[1..].bytes().all(|b| b.is_ascii_digit());
            if phone || (token.contains('@') && token.contains('.')) {
                found.insert(token.to_owned());
            }
        }
    }
    found
}

/// Template names declared in the workspace's template files.
fn template_names(root: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("templates")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            if let Some(n) = line.strip_prefix("name: ") {
                names.push(n.trim().to_owned());
            }
        }
    }
    names.sort();
    names
}

#[test]
fn the_page_shows_every_template_as_sent_and_no_address() {
    let ws = reviewed_workspace();
    // A draft whose text tries to inject markup: it must show as text.
    ws.write(
        "templates/escape-test.yaml",
        "kind: Template\nname: escape-test\nchannel: sms\ncategory: transactional\nstatus: draft\nbody: \"<script>alert('x')</script> & <b>bold</b> {{code}}\"\nvariables:\n  code: { description: \"<i>code</i>\", example: \"\\\"><img src=x>\" }\n",
    );
    let html = preview(&ws, &[]);
    let doc = Html::parse_document(&html);

    // Every template of the workspace is on the page.
    let names = template_names(ws.path());
    assert_eq!(names.len(), 4, "{names:?}");
    for name in &names {
        let s = sel(&format!("section.template[data-template=\"{name}\"]"));
        assert_eq!(doc.select(&s).count(), 1, "template {name} missing");
    }
    // Every campaign too, each with masked samples.
    for name in [
        "december-newsletter",
        "order-shipped-2026-11-25",
        "winter-sale-2026",
    ] {
        let s = sel(&format!("section.campaign[data-campaign=\"{name}\"]"));
        let section = doc
            .select(&s)
            .next()
            .unwrap_or_else(|| panic!("campaign {name} missing"));
        let samples: Vec<_> = section.select(&sel(".sample .to")).map(text_of).collect();
        assert!(samples.len() <= 5, "{name}: {} samples", samples.len());
        // Every sample names its decision; no row already sent is shown as a sample.
        let decisions: Vec<_> = section
            .select(&sel(".sample .decision"))
            .map(text_of)
            .collect();
        assert_eq!(decisions.len(), samples.len(), "{name}");
        assert!(
            decisions
                .iter()
                .all(|d| !d.is_empty() && !d.contains("already sent")),
            "{name}: {decisions:?}"
        );
        for to in samples {
            assert!(
                to.contains("***"),
                "{name}: sample address not masked: {to}"
            );
        }
        assert!(section.select(&sel(".badge.status")).next().is_some());
    }

    // No script, no external reference, nothing escaped badly.
    assert_eq!(doc.select(&sel("script")).count(), 0);
    assert_eq!(doc.select(&sel("img")).count(), 0);
    for attr in ["src", "href"] {
        for e in doc.select(&sel(&format!("[{attr}]"))) {
            let v = e.value().attr(attr).unwrap();
            assert!(v.starts_with('#'), "external {attr}: {v}");
        }
    }
    let escape = doc
        .select(&sel("section[data-template=\"escape-test\"] .bubble"))
        .next()
        .expect("escape-test bubble");
    assert_eq!(
        text_of(escape),
        "<script>alert('x')</script> & <b>bold</b> \"><img src=x>"
    );

    // SMS bubbles: one shaded span per segment, numbered boundary marks between them.
    let bubbles: Vec<_> = doc.select(&sel(".bubble")).collect();
    assert_eq!(bubbles.len(), 3);
    for b in &bubbles {
        let n: usize = b.value().attr("data-segments").unwrap().parse().unwrap();
        assert_eq!(b.select(&sel(".segment")).count(), n);
        assert_eq!(b.select(&sel(".seg-mark")).count(), n - 1);
    }
    let winter = doc
        .select(&sel("section[data-template=\"winter-sale\"]"))
        .next()
        .unwrap();
    let bubble = winter.select(&sel(".bubble")).next().unwrap();
    assert_eq!(bubble.value().attr("data-encoding"), Some("UCS-2"));
    assert_eq!(bubble.value().attr("data-segments"), Some("3"));
    let marks: Vec<_> = bubble.select(&sel(".seg-mark")).map(text_of).collect();
    assert_eq!(marks, ["2/3", "3/3"]);
    let ucs2: Vec<_> = bubble.select(&sel("mark.ucs2")).map(text_of).collect();
    assert_eq!(ucs2, ["—", "’"]);
    let meta = text_of(winter.select(&sel(".sms-meta")).next().unwrap());
    assert!(
        meta.contains("3 segments") && meta.contains("67 per segment"),
        "{meta}"
    );
    // Each character that forces UCS-2 is named, with the GSM-7 text to write instead.
    let why: Vec<_> = winter.select(&sel(".ucs2-why li")).map(text_of).collect();
    assert_eq!(
        why,
        [
            "“—” U+2014 em dash: write - instead",
            "“’” U+2019 right single quotation mark (curly apostrophe): write ' instead"
        ]
    );
    // The rendered text uses the declared examples.
    assert!(text_of(bubble).starts_with("Hi Sam! Our winter sale starts today: 20% off"));

    // The word diff against Genesys: only the changed words are marked.
    assert_eq!(
        text_of(winter.select(&sel(".badge.action")).next().unwrap()),
        "update"
    );
    let diff = winter
        .select(&sel(".diff[data-field=\"body\"]"))
        .next()
        .expect("body diff");
    let words = |s: &str| {
        diff.select(&sel(s))
            .map(|e| text_of(e).trim().to_owned())
            .collect::<Vec<_>>()
    };
    let (del, ins) = (words(".diff-body del"), words(".diff-body ins"));
    assert_eq!(del, ["Sunday."]);
    assert_eq!(ins, ["Monday — don’t miss it."]);
    assert!(
        html_has(
            &doc,
            "section[data-template=\"winter-sale\"] .notice",
            "GSM-7, 2 segments → UCS-2, 3 segments"
        ),
        "the cost change is shown"
    );
    let order = doc
        .select(&sel("section[data-template=\"order-shipped\"]"))
        .next()
        .unwrap();
    assert_eq!(order.select(&sel(".diff")).count(), 0, "unchanged: no diff");

    // Checks with their codes: the transactional SMS needs no STOP text, the marketing one has it.
    let check = |section: ElementRef<'_>, code: &str| {
        let row = section
            .select(&sel(&format!("tr.check[data-code=\"{code}\"]")))
            .next()
            .unwrap_or_else(|| panic!("check {code} missing"));
        text_of(row.select(&sel(".badge")).next().unwrap())
    };
    assert_eq!(check(winter, "H140"), "passed");
    assert_eq!(check(order, "H140"), "not required");
    for code in [
        "H101", "H102", "H103", "H104", "H130", "H150", "H151", "H152",
    ] {
        assert_eq!(check(winter, code), "passed", "{code}");
    }

    // The email: subject, sandboxed body without scripts, text alternative, CAN-SPAM checks.
    let email = doc
        .select(&sel("section[data-template=\"december-newsletter\"]"))
        .next()
        .unwrap();
    assert_eq!(
        text_of(email.select(&sel(".subject")).next().unwrap()),
        "Sam, your December picks are here"
    );
    let frame = email.select(&sel("iframe")).next().expect("iframe");
    assert_eq!(frame.value().attr("sandbox"), Some(""));
    let srcdoc = frame.value().attr("srcdoc").expect("srcdoc");
    assert!(srcdoc.contains("<a href=\"https://example.com/u/abc123\">Unsubscribe</a>"));
    assert!(srcdoc.contains("Content-Security-Policy"));
    assert!(!srcdoc.to_lowercase().contains("<script"));
    assert!(text_of(email.select(&sel(".alt pre")).next().unwrap()).contains("Unsubscribe:"));
    let canspam: Vec<_> = email.select(&sel(".canspam li")).map(text_of).collect();
    assert_eq!(canspam.len(), 2);
    assert!(
        canspam.iter().all(|c| c.starts_with("passed")),
        "{canspam:?}"
    );
    assert_eq!(check(email, "H141"), "passed");
    assert_eq!(check(email, "H142"), "passed");
    // Variables table: description, example, max length.
    let rows: Vec<_> = email
        .select(&sel("table.vars tbody tr"))
        .map(|r| r.select(&sel("td")).map(text_of).collect::<Vec<_>>())
        .collect();
    assert_eq!(
        rows[0],
        ["{{first_name}}", "Subscriber first name", "Sam", "30"]
    );

    // Not one address of the audience files, in the markup or in any decoded text or attribute.
    let addresses = audience_addresses(&repo_root());
    assert!(addresses.len() >= 10, "{addresses:?}");
    let mut decoded: String = doc.root_element().text().collect();
    for e in doc.select(&sel("*")) {
        for (_, v) in e.value().attrs() {
            decoded.push_str(v);
            decoded.push('\n');
        }
    }
    for a in &addresses {
        assert!(!html.contains(a.as_str()), "{a} in the page");
        assert!(!decoded.contains(a.as_str()), "{a} in the page text");
    }
}

#[test]
fn preview_narrows_to_a_campaign_and_its_template() {
    let ws = TestWorkspace::example();
    let html = preview(&ws, &["--campaign", "winter-sale-2026"]);
    let doc = Html::parse_document(&html);
    let templates: Vec<_> = doc
        .select(&sel("section.template"))
        .map(|s| s.value().attr("data-template").unwrap().to_owned())
        .collect();
    assert_eq!(templates, ["winter-sale"]);
    assert_eq!(doc.select(&sel("section.campaign")).count(), 1);
    assert!(text_of(doc.select(&sel(".notice")).next().unwrap()).contains("Narrowed"));
}

/// The issue's case: after an apply, the audience grows and a campaign is added. The page's
/// samples are the rows sent now (then the held one), each labelled; no row already sent is
/// a sample; the grown and the new campaign say what changed; the head shows the summary and
/// the review digest before anything else.
#[test]
fn samples_are_rows_sent_now_and_campaign_changes_are_marked() {
    let ws = reviewed_workspace();
    let csv = "campaigns/data/vip-customers.csv";
    ws.write(
        csv,
        &format!(
            "{}C-2006,+12125550115,America/New_York,yes,Finley\nC-2007,+12125550116,America/New_York,yes,Gray\nC-2008,+12125550117,America/New_York,yes,Harper\n",
            ws.read(csv)
        ),
    );
    ws.write(
        "campaigns/spring-sale.yaml",
        &ws.read("campaigns/winter-sale.yaml")
            .replace("name: winter-sale-2026", "name: spring-sale-2027"),
    );
    let html = preview(&ws, &[]);
    let doc = Html::parse_document(&html);

    let winter = doc
        .select(&sel("section.campaign[data-campaign=\"winter-sale-2026\"]"))
        .next()
        .expect("winter-sale-2026");
    let samples: Vec<(String, String, String)> = winter
        .select(&sel(".sample"))
        .map(|s| {
            let part = |c: &str| text_of(s.select(&sel(c)).next().unwrap());
            (part(".decision"), part(".to"), part(".muted"))
        })
        .collect();
    let decisions: Vec<&str> = samples.iter().map(|(d, _, _)| d.as_str()).collect();
    assert_eq!(decisions.len(), 4, "{samples:?}");
    assert_eq!(&decisions[..3], ["send now"; 3], "{samples:?}");
    assert!(
        decisions[3].starts_with("held by quiet hours, opens 2026-12-02 "),
        "{samples:?}"
    );
    let lines: Vec<&str> = samples.iter().map(|(_, _, l)| l.as_str()).collect();
    assert_eq!(&lines[..3], ["line 7", "line 8", "line 9"], "{samples:?}");
    assert_eq!(winter.select(&sel(".sample.send")).count(), 3);
    let changes = text_of(winter.select(&sel(".changes")).next().expect("changes"));
    assert!(
        changes.ends_with("+4 rows not yet in the ledger"),
        "{changes}"
    );
    let spring = doc
        .select(&sel("section.campaign[data-campaign=\"spring-sale-2027\"]"))
        .next()
        .expect("spring-sale-2027");
    let changes = text_of(spring.select(&sel(".changes")).next().expect("changes"));
    assert!(changes.starts_with("new campaign"), "{changes}");
    let order = doc
        .select(&sel(
            "section.campaign[data-campaign=\"order-shipped-2026-11-25\"]",
        ))
        .next()
        .unwrap();
    assert_eq!(order.select(&sel(".changes")).count(), 0, "nothing changed");

    // The head: the summary and the digest come before the templates.
    let head = doc.select(&sel("header")).next().unwrap();
    let summary = text_of(head.select(&sel(".summary")).next().expect("summary"));
    assert!(summary.starts_with("Plan: "), "{summary}");
    let digest = text_of(head.select(&sel(".digest code")).next().expect("digest"));
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(head.select(&sel(".errors")).count(), 0);
}

#[test]
fn a_workspace_with_errors_still_gets_a_page_and_exit_3() {
    let ws = TestWorkspace::example();
    let path = "templates/winter-sale.yaml";
    ws.write(path, &ws.read(path).replace(" Reply STOP to opt out.", ""));
    // A placeholder that is not declared: the loader refuses the template.
    let order = "templates/order-shipped.yaml";
    assert!(ws.read(order).contains("{{order_id}}"));
    ws.write(
        order,
        &ws.read(order)
            .replacen("{{order_id}}", "{{order_number}}", 1),
    );
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["preview", "--out", "site"]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("H140"), "{err}");
    let html = ws.read("site/index.html");
    let doc = Html::parse_document(&html);
    let row = doc
        .select(&sel(
            "section[data-template=\"winter-sale\"] tr.check[data-code=\"H140\"]",
        ))
        .next()
        .expect("H140 row");
    assert!(text_of(row).contains("failed"));
    assert!(text_of(row).contains("without opt-out instructions"));
    assert_eq!(doc.select(&sel("section.campaign")).count(), 0);
    assert!(html_has(&doc, ".notice.bad", "no plan was made"));
    // Every blocking error is listed in the page's head, before the templates.
    let head = doc.select(&sel("header")).next().unwrap();
    let errors: Vec<_> = head.select(&sel(".errors li.error")).map(text_of).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("H140") && e.contains("templates/winter-sale.yaml")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("H101") && e.contains("order_number")),
        "{errors:?}"
    );
    // The refused template is still shown as written, with its failed check and a notice.
    let refused = doc
        .select(&sel("section.template[data-template=\"order-shipped\"]"))
        .next()
        .expect("the refused template has its section");
    let bubble = text_of(refused.select(&sel(".bubble")).next().expect("rendered"));
    assert!(
        bubble.contains("{{order_number}}") && bubble.contains("has shipped"),
        "{bubble}"
    );
    assert!(text_of(refused).contains("cannot be sent"));
    assert!(
        refused
            .select(&sel("tr.check[data-code=\"H101\"]"))
            .next()
            .is_some()
    );
    assert!(html.find("class=\"errors\"").unwrap() < html.find("id=\"templates\"").unwrap());
}

fn html_has(doc: &Html, selector: &str, needle: &str) -> bool {
    doc.select(&sel(selector))
        .any(|e| text_of(e).contains(needle))
}

// ---- headless Chromium ------------------------------------------------------------------

/// Collects errors and measures the phone bubbles and email frames once the page has loaded;
/// injected only into the test's copy of the page.
const PROBE: &str = r"<script>
window.__errs = [];
addEventListener('error', function (e) { __errs.push('error: ' + (e.message || (e.target && e.target.outerHTML))); }, true);
document.addEventListener('securitypolicyviolation', function (e) { __errs.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI); });
var __ce = console.error; console.error = function () { __errs.push('console: ' + Array.prototype.join.call(arguments, ' ')); __ce.apply(console, arguments); };
addEventListener('load', function () {
  function size(sel) { return Array.prototype.map.call(document.querySelectorAll(sel), function (e) { var r = e.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; }); }
  var out = document.createElement('pre');
  out.id = 'probe';
  var labels = Array.prototype.filter.call(document.querySelectorAll('.sample .decision'), function (e) { var r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && e.textContent.length > 0; }).length;
  out.textContent = JSON.stringify({ errors: __errs, bubbles: size('.bubble'), frames: size('iframe.mail-body'), height: document.documentElement.scrollHeight, overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth, samples: document.querySelectorAll('.sample').length, labels: labels });
  document.body.appendChild(out);
});
</script>";

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("HERALD_CHROMIUM") {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(dir) = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .find(|d| d.join(name).is_file())
        {
            return dir.join(name);
        }
    }
    panic!(
        "this test needs Chromium: `apt-get install -y chromium`, or set HERALD_CHROMIUM to its path"
    );
}

/// Runs headless Chromium with `args` (killed after a minute); returns (stdout, stderr).
fn headless(profile: &Path, args: &[String]) -> (String, String) {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            // Root (CI containers) cannot use Chromium's sandbox; the page is our own file.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (out.join().unwrap(), err.join().unwrap())
}

/// Console messages Chromium logged at error level (a CSP violation, a failed load, a script
/// error), from its stderr log.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Refused to") || l.contains("Uncaught"))
        .collect()
}

/// Opens a probed copy of the page in a window `width` px wide; returns the probe's report
/// (errors, element sizes, page height, horizontal overflow, samples and their labels).
fn probe(ws: &TestWorkspace, profile: &Path, html: &str, width: u32) -> serde_json::Value {
    let probed = html
        .replacen(
            "<meta charset=\"utf-8\">",
            &format!("<meta charset=\"utf-8\">\n{PROBE}"),
            1,
        )
        .replacen(
            "default-src 'none';",
            "default-src 'none'; script-src 'unsafe-inline';",
            1,
        );
    assert_ne!(probed, html);
    let path = ws.path().join(format!("site/probe-{width}.html"));
    let (probe, stderr) = probe_text(profile, &path, &probed, (width, 1000));
    let report: serde_json::Value = serde_json::from_str(&probe).expect("probe json");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    assert!(console_errors(&stderr).is_empty(), "{stderr}");
    report
}

/// The height of the page's (one) email body laid out on its own in a window `width` px
/// wide: its document, taken from the frame's `srcdoc`, with a probe added.
fn email_body_height(ws: &TestWorkspace, profile: &Path, html: &str, width: u64) -> u64 {
    let doc = Html::parse_document(html);
    let srcdoc = doc
        .select(&sel("iframe.mail-body"))
        .next()
        .and_then(|f| f.value().attr("srcdoc"))
        .expect("srcdoc")
        .to_owned();
    let probed = srcdoc
        .replacen(
            "default-src 'none';",
            "default-src 'none'; script-src 'unsafe-inline';",
            1,
        )
        .replacen(
            "</body>",
            "<script>addEventListener('load', function () { var h = document.documentElement.scrollHeight; var p = document.createElement('pre'); p.id = 'probe'; p.textContent = h; p.style.position = 'absolute'; p.style.top = '0'; document.body.appendChild(p); });</script></body>",
            1,
        );
    assert_ne!(probed, srcdoc);
    let path = ws.path().join(format!("site/mail-{width}.html"));
    let width = u32::try_from(width).unwrap();
    let (probe, _) = probe_text(profile, &path, &probed, (width, 200));
    probe.trim().parse().expect("a height")
}

/// Writes `html` to `path`, opens it in a window of `size` (width, height) and returns the
/// text of its `#probe` element once loaded, and Chromium's log.
fn probe_text(profile: &Path, path: &Path, html: &str, size: (u32, u32)) -> (String, String) {
    std::fs::write(path, html).unwrap();
    let (dom, stderr) = headless(
        profile,
        &[
            format!("--window-size={},{}", size.0, size.1),
            "--dump-dom".to_owned(),
            format!("file://{}", path.display()),
        ],
    );
    let dom = Html::parse_document(&dom);
    let probe = dom
        .select(&sel("#probe"))
        .next()
        .unwrap_or_else(|| panic!("{} did not load; chromium said:\n{stderr}", path.display()));
    (text_of(probe), stderr)
}

#[test]
#[ignore = "needs chromium (Debian package `chromium`); CI runs it with --include-ignored"]
fn the_page_loads_in_chromium_without_errors() {
    let ws = reviewed_workspace();
    // Rows to send after the first apply, so the campaigns have samples to label.
    let csv = "campaigns/data/vip-customers.csv";
    ws.write(
        csv,
        &format!(
            "{}C-2006,+12125550115,America/New_York,yes,Finley\n",
            ws.read(csv)
        ),
    );
    // A longer email with a remote banner: its footer (unsubscribe link, postal address)
    // sits well below the 260 px a fixed frame used to show.
    let news = "templates/december-newsletter.yaml";
    let para = "  <p>Our December picks: warm layers, trail boots and gifts for everyone on your list, all in stock and ready to ship before the holidays.</p>\n";
    ws.write(
        news,
        &ws.read(news).replacen(
            "  <p>Here is what",
            &format!(
                "  <img src=\"https://cdn.example.com/banner.png\" alt=\"December banner\">\n{}  <p>Here is what",
                para.repeat(4)
            ),
            1,
        ),
    );
    let html = preview(&ws, &[]);
    assert!(html.contains("remote image blocked by the offline preview: December banner"));
    let profile = tempfile::tempdir().unwrap();

    // 1. A copy with the probe: measure and collect errors, on a phone and on a laptop.
    let mut report = serde_json::Value::Null;
    for width in [390, 1366] {
        report = probe(&ws, profile.path(), &html, width);
        let sizes = |key: &str| -> Vec<(u64, u64)> {
            report[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s[0].as_u64().unwrap(), s[1].as_u64().unwrap()))
                .collect()
        };
        let bubbles = sizes("bubbles");
        let frames = sizes("frames");
        assert_eq!(bubbles.len(), 2, "{report}");
        assert_eq!(frames.len(), 1, "{report}");
        for (w, h) in bubbles.iter().chain(&frames) {
            assert!(
                *w > 50 && *h > 20,
                "an element has no size at {width} px: {report}"
            );
        }
        // Nothing spills off the side: the page is no wider than the window.
        assert_eq!(
            report["overflow"], 0,
            "horizontal overflow at {width} px: {report}"
        );
        // Every sample shows its decision.
        assert!(report["samples"].as_u64().unwrap() > 0, "{report}");
        assert_eq!(report["samples"], report["labels"], "{report}");
        // The email frame holds its whole body (the unsubscribe link and postal address at
        // its foot): the body laid out alone at the frame's width is no taller than the frame.
        let (frame_w, frame_h) = frames[0];
        let body = email_body_height(&ws, profile.path(), &html, frame_w);
        assert!(
            body <= frame_h,
            "at {width} px the email body is {body} px tall, its frame {frame_h} px: the footer is cut off"
        );
    }

    // 2. The page itself, as a reviewer opens it: a full-page screenshot.
    let height = report["height"].as_u64().unwrap().clamp(600, 8000);
    let shot = ws.path().join("site/preview.png");
    let (_, stderr) = headless(
        profile.path(),
        &[
            format!("--window-size=1280,{height}"),
            format!("--screenshot={}", shot.display()),
            format!("file://{}", ws.path().join("site/index.html").display()),
        ],
    );
    assert!(console_errors(&stderr).is_empty(), "{stderr}");
    let png = std::fs::read(&shot).unwrap_or_else(|_| panic!("no screenshot:\n{stderr}"));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    // HERALD_UPDATE_SCREENSHOT=1 refreshes the README's image.
    if std::env::var_os("HERALD_UPDATE_SCREENSHOT").is_some() {
        let dest = repo_root().join("docs/images/preview.png");
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, png).unwrap();
    }
}
