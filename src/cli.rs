//! The command line: clap derive types only, no logic.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  success, nothing to do
  1  error (I/O, remote API, internal)
  2  changes pending (plan --detailed-exitcode)
  3  validation or policy failure
  4  ledger locked by another run";

/// Campaign-as-code for Genesys Cloud outbound SMS and email.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The heading global options are listed under in every command's `--help`, apart from the
/// command's own options.
const GLOBAL: &str = "Global options";

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Workspace directory (the one holding herald.yaml); default: the nearest ancestor of the
    /// current directory that has one.
    #[arg(short = 'C', long = "workspace", global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub workspace: Option<PathBuf>,
    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, help_heading = GLOBAL)]
    pub color: ColorChoice,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,
    /// More detail on stderr (-v, -vv, -vvv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Target environment from herald.yaml (default: `HERALD_ENV`, then `default_environment`).
    #[arg(short, long = "env", global = true, value_name = "ENV", help_heading = GLOBAL)]
    pub env: Option<String>,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Output format of reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// Machine-readable JSON.
    Json,
}

/// herald's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every template, audience and campaign; report all problems at once.
    #[command(
        after_help = "Example:\n  herald validate\n  herald validate --format json | jq '.diagnostics[].code'"
    )]
    Validate(ValidateArgs),
    /// Write (or check) the JSON Schemas of herald.yaml, Template, Audience and Campaign.
    #[command(
        after_help = "Example:\n  herald schema          # rewrite schema/*.json\n  herald schema --check  # exit 1 when schema/ is stale"
    )]
    Schema(SchemaArgs),
    /// Preview a campaign's rendered messages, with masked addresses.
    #[command(after_help = "Example:\n  herald render order-shipped-2026-11-25 --limit 3")]
    Render(RenderArgs),
    /// Create a starter workspace.
    #[command(
        after_help = "Example:\n  herald init my-campaigns && cd my-campaigns && herald validate"
    )]
    Init(InitArgs),
    /// Show what apply would do: template diffs against Genesys and each campaign's send plan.
    #[command(
        after_help = "Example:\n  herald plan\n  herald plan --env prod --out plan.json --format markdown > plan.md\n  herald plan --detailed-exitcode   # 0 no changes, 2 changes pending"
    )]
    Plan(PlanArgs),
    /// Write a static page showing every message as the recipient sees it, for reviewers.
    #[command(
        after_help = "Example:\n  herald preview                      # writes preview/index.html\n  herald preview --out site --campaign winter-sale-2026"
    )]
    Preview(PreviewArgs),
    /// Write the reviewed templates and send the campaigns, exactly once per recipient row.
    #[command(
        after_help = "Example:\n  herald apply                        # plan, show, ask\n  herald apply --auto-approve         # CI: no prompt\n  herald apply plan.json              # exactly the reviewed plan; stale objects are refused\n  herald apply --max-sends 10         # canary"
    )]
    Apply(ApplyArgs),
    /// Resolve sends whose outcome is not known: rows handed to a Genesys messaging campaign
    /// (read back by contact id) and `unknown` sends (through the analytics query).
    #[command(
        after_help = "Example:\n  herald reconcile\n  herald reconcile --campaign winter-sale-2026 --settle-secs 900"
    )]
    Reconcile(ReconcileArgs),
    /// Control a campaign's Genesys messaging campaigns (`dispatch: messaging-campaign`).
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Adopt existing Genesys templates (responses in the managed library) as YAML.
    #[command(
        after_help = "Example:\n  herald import order-shipped\n  herald import --all --env prod"
    )]
    Import(ImportTemplatesArgs),
    /// Per-campaign send counts from the ledger: sent, pending, held, unknown, failed, suppressed.
    #[command(
        after_help = "Example:\n  herald status\n  herald status winter-sale-2026 --format json"
    )]
    Status(StatusArgs),
    /// Check an environment's set-up before a first apply: credentials, login, permissions,
    /// senders, DNC list, rate limit, ledger and key; exit 1 when a check failed.
    #[command(
        after_help = "Example:\n  herald doctor --env prod\n  herald doctor --env prod --dnc-list \"Herald opt-outs\" --serve --format json"
    )]
    Doctor(DoctorArgs),
    /// Inspect the ledger: verify its hash chain, export masked rows, list template history.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Manage the suppression (opt-out / do-not-contact) list.
    #[command(subcommand)]
    Suppress(SuppressCommand),
    /// Load Do-Not-Call registry downloads (the FTC's National Registry, a state's) and list them.
    #[command(subcommand)]
    Dnc(DncCommand),
    /// Every send, hold and suppression of one recipient, with why each send was allowed (masked).
    #[command(
        after_help = "The recipient is matched by its keyed id; output shows only its masked form.\n\nExample:\n  herald audit +12125550100 --env prod\n  herald audit jane@example.com --format json\n  herald audit +12125550100 --format csv > complaint-4711.csv"
    )]
    Audit(AuditArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to stdout.
    #[command(
        after_help = "Example:\n  herald completions bash > ~/.local/share/bash-completion/completions/herald\n  herald completions zsh > ~/.zfunc/_herald"
    )]
    Completions(CompletionsArgs),
    /// Print herald's manual page (roff) to stdout, or a subcommand's.
    #[command(
        after_help = "Example:\n  herald man | man -l -\n  herald man ledger verify > herald-ledger-verify.1"
    )]
    Man(ManArgs),
    /// Receive SMS replies (STOP, START, HELP…) posted by a Genesys inbound message flow's Data Action.
    #[command(
        after_help = "The shared secret comes from HERALD_WEBHOOK_SECRET (comma-separated: two during a\nrotation) or the environment's `webhook_secret_file:`. Plain HTTP: put TLS in front.\nRoutes: POST /v1/inbound; GET /healthz (503 when the ledger is not writable), /livez,\n/metrics (Prometheus). See docs/deploy.md.\n\nExample:\n  HERALD_WEBHOOK_SECRET=\"$(cat inbound.secret)\" herald serve --env prod --listen 127.0.0.1:8788 --log-format json"
    )]
    Serve(ServeArgs),
    /// Poll delivery receipts of recent sends; suppress recipients Genesys reports as opted out.
    #[command(
        after_help = "Example:\n  herald receipts --env prod               # sends of the last 72 hours\n  herald receipts --since 7d --format json"
    )]
    Receipts(ReceiptsArgs),
    /// Run the built-in Genesys Cloud emulator.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
}

/// `herald campaign …`
#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Stop the campaign's running Genesys messaging campaigns: no new messages; the ledger
    /// then shows who was messaged (sent) and who was not (pending, for a later apply).
    #[command(after_help = "Example:\n  herald campaign stop winter-sale-2026 --env prod")]
    Stop(CampaignStopArgs),
}

/// Arguments of `herald campaign stop`.
#[derive(Debug, Args)]
pub struct CampaignStopArgs {
    /// The campaign (its `name:`).
    pub name: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `herald dnc …`
#[derive(Debug, Subcommand)]
pub enum DncCommand {
    /// Load a registry download into the ledger (as keyed ids): a full list replaces the
    /// source's numbers, a change list adds and deletes.
    #[command(
        after_help = "Files: the flat text download, one number per line (`AAA,NNNNNNN` or ten digits);\na change list: `AAA,NNNNNNN,A` (added) or `…,D` (deleted). Unzip the download first.\n\nExample:\n  herald dnc import national-2026-12-01.txt --source national --downloaded 2026-12-01\n  herald dnc import changes-2026-12-08.txt --source national --downloaded 2026-12-08 --kind changes\n  herald dnc import tx.txt --source TX --downloaded 2026-12-01"
    )]
    Import(DncImportArgs),
    /// List the loaded registries with their age (a registry older than 31 days refuses marketing).
    #[command(after_help = "Example:\n  herald dnc list --env prod --format json")]
    List(ListArgs),
}

/// What a registry file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DncKindArg {
    /// The full list: replaces the source's numbers.
    #[default]
    Full,
    /// A change list: additions (A) and deletions (D).
    Changes,
}

/// Arguments of `herald dnc import`.
#[derive(Debug, Args)]
pub struct DncImportArgs {
    /// The downloaded file (unzipped).
    pub path: PathBuf,
    /// `national`, or a state's two-letter code for a state registry.
    #[arg(long, value_name = "national|STATE")]
    pub source: String,
    /// The day the file was downloaded from the registry (YYYY-MM-DD); its age decides
    /// whether marketing may use it.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub downloaded: String,
    /// Full list or change list.
    #[arg(long, value_enum, default_value_t = DncKindArg::Full)]
    pub kind: DncKindArg,
    /// Output format: `json` prints one object on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Output format of `herald audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum AuditFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document.
    Json,
    /// CSV, one row per send, suppression change or registry listing.
    Csv,
}

/// Arguments of `herald audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The recipient: an E.164 phone number or an email address.
    pub recipient: String,
    /// Also read this archive file (repeatable; verified first): its sends of the recipient
    /// are listed with the ledger's.
    #[arg(long, value_name = "FILE")]
    pub archive: Vec<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,
}

/// Arguments of `herald status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this campaign.
    pub campaign: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `herald doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Also check that this DNC list (the one `suppress push --dnc-list` uses) exists.
    #[arg(long, value_name = "NAME")]
    pub dnc_list: Option<String>,
    /// `herald serve` runs for this environment: check its shared secret is configured
    /// (implied by `webhook_secret_file:` or `HERALD_WEBHOOK_SECRET`).
    #[arg(long)]
    pub serve: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `herald ledger …`
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check the keyed hash chain and that every table matches it; exit 1 at the first broken link.
    #[command(
        after_help = "Example:\n  herald ledger verify --env prod\n  herald ledger verify --env prod --expect-head \"$(cat ledger-head.txt)\"   # refuses a truncated or restored ledger\n  herald ledger verify --env prod --incremental   # before each apply; a full verify nightly"
    )]
    Verify(VerifyArgs),
    /// Print the chain head (`SEQ:HASH`), the checkpoint to keep for `--expect-head`.
    #[command(
        after_help = "Example:\n  herald ledger head --env prod\n  herald ledger head --env prod --format json | jq -r .head > ledger-head.txt"
    )]
    Head(HeadArgs),
    /// Export send rows (masked addresses, no message bodies) as CSV or JSON lines.
    #[command(
        after_help = "Example:\n  herald ledger export --campaign winter-sale-2026 --format csv > sends.csv"
    )]
    Export(ExportArgs),
    /// Template versions written to Genesys, with git commits.
    #[command(after_help = "Example:\n  herald ledger history order-shipped")]
    History(HistoryArgs),
    /// Move finished campaigns last updated before DATE (sends and their facts) into a
    /// verifiable archive file, and remove them from the ledger in one recorded cut.
    #[command(
        after_help = "Example:\n  herald ledger archive --env prod --before 2026-01-01\n  herald ledger verify --env prod --archive .herald/archive/prod-cut-1234.sqlite"
    )]
    Archive(ArchiveArgs),
    /// Copy a ledger to another location or backend (e.g. SQLite to PostgreSQL), verified on both sides.
    #[command(
        after_help = "Example:\n  herald ledger migrate --from sqlite:.herald/ledger-prod.db \\\n    --to 'postgres://herald@db.internal/herald?options=-csearch_path%3Dherald_prod'"
    )]
    Migrate(MigrateArgs),
    /// Create the environment's ledger key file (.herald/ledger-ENV.key, mode 0600): 32 random
    /// bytes, never printed. Refuses to overwrite a key file, and refuses when the
    /// environment's ledger already holds rows made with another key.
    #[command(
        after_help = "Example:\n  herald ledger keygen --env prod\n  gh secret set HERALD_LEDGER_KEY < .herald/ledger-prod.key"
    )]
    Keygen,
}

/// A checkpoint the ledger's chain must contain (`SEQ:HASH`, as printed after a write).
fn parse_head(s: &str) -> Result<herald_ledger::ChainHead, String> {
    herald_ledger::ChainHead::parse(s)
}

/// Arguments of `herald ledger verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Refuse (exit 1) a ledger whose chain does not contain this head (`SEQ:HASH`, as
    /// printed by the last writing command): it was truncated or restored from a backup.
    #[arg(long, value_name = "SEQ:HASH", value_parser = parse_head)]
    pub expect_head: Option<herald_ledger::ChainHead>,
    /// Check only what changed since the head the last passing verify recorded (for CI that
    /// verifies before every apply): the links after it, the rows written since, and the
    /// sealed checkpoint (row counts, sends per state, the suppressions). A full verify is run
    /// when no verified head is recorded. Edits in place of older rows that keep those counts
    /// are left to the full verify; run one regularly.
    #[arg(long)]
    pub incremental: bool,
    /// Also verify this archive file (repeatable): its chain, every row's MAC, and that it is
    /// the archive a cut of this ledger names.
    #[arg(long, value_name = "FILE")]
    pub archive: Vec<std::path::PathBuf>,
    /// Output format: `json` prints one object (`ok`, what was checked, the first broken
    /// link, the head) on stdout, also when verification fails.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `herald ledger archive`.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The cut date: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 timestamp. Campaigns whose
    /// every send is final and whose last update is before it move.
    #[arg(long, value_name = "DATE", value_parser = parse_cut_date)]
    pub before: jiff::Timestamp,
    /// The archive file to write (must not exist); default
    /// `.herald/archive/ENV-cut-SEQ.sqlite`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 timestamp.
pub(crate) fn parse_cut_date(s: &str) -> Result<jiff::Timestamp, String> {
    let s = s.trim();
    if let Ok(d) = s.parse::<jiff::civil::Date>()
        && s.len() == 10
    {
        return jiff::tz::TimeZone::UTC
            .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .map_err(|e| format!("`{s}`: {e}"));
    }
    s.parse::<jiff::Timestamp>().map_err(|_| {
        format!("`{s}` is not a date: expected YYYY-MM-DD (midnight UTC) or an RFC 3339 timestamp such as 2026-01-01T00:00:00Z")
    })
}

/// Arguments of `herald ledger head`.
#[derive(Debug, Args)]
pub struct HeadArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `herald ledger migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Source: `sqlite:PATH`, a path, or a `postgres://` URL.
    #[arg(long)]
    pub from: String,
    /// Target (must be new and empty): `sqlite:PATH`, a path, or a `postgres://` URL.
    #[arg(long)]
    pub to: String,
    /// Output format: `json` prints one object on stdout (rows per table, what was verified,
    /// the target's head).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Comma-separated values with a header.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Arguments of `herald ledger export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only this campaign.
    #[arg(long)]
    pub campaign: Option<String>,
    /// Also export the sends of this archive file (repeatable; verified first), before the
    /// ledger's own.
    #[arg(long, value_name = "FILE")]
    pub archive: Vec<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
}

/// Arguments of `herald ledger history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this template.
    pub template: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `herald completions`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `herald man`
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (e.g. `ledger verify`); none for herald(1).
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// A channel scope on the command line: one channel (every [`Channel`](crate::spec::Channel),
/// by its stored spelling) or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelArg {
    /// One channel.
    One(crate::spec::Channel),
    /// Every channel.
    All,
}

/// Each channel, then `all`: the values `--channel` takes, made from the channel list.
static CHANNEL_ARGS: std::sync::LazyLock<Vec<ChannelArg>> = std::sync::LazyLock::new(|| {
    let mut v: Vec<ChannelArg> = crate::spec::Channel::ALL.map(ChannelArg::One).into();
    v.push(ChannelArg::All);
    v
});

impl ValueEnum for ChannelArg {
    fn value_variants<'a>() -> &'a [Self] {
        &CHANNEL_ARGS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(match self {
            Self::One(c) => clap::builder::PossibleValue::new(c.as_str()).help(c.label()),
            Self::All => clap::builder::PossibleValue::new("all").help("Every channel"),
        })
    }
}

impl ChannelArg {
    /// The channel a suppression of `address` covers: the address's own unless one is given
    /// (`None`: every channel).
    pub fn covers(
        arg: Option<ChannelArg>,
        address: &crate::messages::Address,
    ) -> Option<crate::spec::Channel> {
        match arg {
            None => Some(address.channel()),
            Some(ChannelArg::One(c)) => Some(c),
            Some(ChannelArg::All) => None,
        }
    }
}

/// `herald suppress …`
#[derive(Debug, Subcommand)]
pub enum SuppressCommand {
    /// Suppress an address (E.164 phone or email); it is stored only as a keyed hash and a mask.
    #[command(
        after_help = "Example:\n  herald suppress add +12125550100 --reason \"asked by phone\""
    )]
    Add(SuppressArgs),
    /// Lift a suppression (e.g. after a START reply obtained another way).
    #[command(
        after_help = "Example:\n  herald suppress remove +12125550100 --reason \"re-subscribed in store\""
    )]
    Remove(SuppressArgs),
    /// List active suppressions (masked).
    #[command(after_help = "Example:\n  herald suppress list --format json")]
    List(ListArgs),
    /// Suppress every address in a file: one per line, or a CSV with a `phone`, `email` or `address` column.
    #[command(
        after_help = "Example:\n  herald suppress import dnc-export.csv --reason \"CRM do-not-contact\""
    )]
    Import(ImportArgs),
    /// Mirror the SMS suppression list into a Genesys internal DNC list (created if missing).
    #[command(after_help = PUSH_HELP)]
    Push(PushArgs),
}

const PUSH_HELP: &str = "\
The ledger keeps no raw phone numbers (only keyed hashes and masks), so herald cannot
recover the numbers to push on its own. You supply candidate numbers again, from a file
and/or from the workspace's SMS audience data; herald pushes exactly those whose hash is on
the suppression list (SMS or all channels) and nothing else. Suppressed numbers that are in
none of the sources are counted but cannot be pushed. Pushing is idempotent: numbers
already on the list stay once.

Example:
  herald suppress push --dnc-list \"Herald opt-outs\" --from-audiences
  herald suppress push --dnc-list \"Herald opt-outs\" --from-file crm-numbers.csv --dry-run";

/// Arguments of `herald suppress add|remove`.
#[derive(Debug, Args)]
pub struct SuppressArgs {
    /// The E.164 phone number or email address.
    pub address: String,
    /// Channel scope (default: the address's own channel).
    #[arg(long, value_enum)]
    pub channel: Option<ChannelArg>,
    /// Why (kept in the audit trail).
    #[arg(long, default_value = "manual")]
    pub reason: String,
    /// Output format: `json` prints one object on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `herald suppress list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `herald suppress import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import.
    pub file: PathBuf,
    /// Channel scope (default: each address's own channel).
    #[arg(long, value_enum)]
    pub channel: Option<ChannelArg>,
    /// Why (kept in the audit trail).
    #[arg(long, default_value = "import")]
    pub reason: String,
    /// Output format: `json` prints one object on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `herald serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (use port 0 for any free port; the URL is printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8788")]
    pub listen: std::net::SocketAddr,
    /// Log format on stderr: `json` writes one object per line, one per request at the
    /// `info` level (numbers masked; no text or secret).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Close a connection that has not sent a complete request head within this long; also
    /// how long a keep-alive connection may sit idle.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: jiff::SignedDuration,
    /// Answer 408 when a request body has not arrived within this long.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub body_timeout: jiff::SignedDuration,
}

/// Log format of `herald serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Arguments of `herald receipts`.
#[derive(Debug, Args)]
pub struct ReceiptsArgs {
    /// Poll messages sent within this long before now: `90m`, `72h`, `7d`.
    #[arg(long, value_name = "DURATION", default_value = "72h", value_parser = parse_duration)]
    pub since: jiff::SignedDuration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Parses `<number><unit>` with unit `s`, `m`, `h` or `d`.
fn parse_duration(raw: &str) -> Result<jiff::SignedDuration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{raw}` has no unit; use s, m, h or d (e.g. 72h)"))?;
    let (n, unit) = raw.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("`{raw}` does not start with a number"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "unknown unit `{unit}`; use s, m, h or d (e.g. 72h)"
            ));
        }
    };
    n.checked_mul(secs)
        .filter(|s| *s > 0)
        .map(jiff::SignedDuration::from_secs)
        .ok_or_else(|| format!("`{raw}` must be a positive duration"))
}

/// Arguments of `herald suppress push`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true)))]
pub struct PushArgs {
    /// Name of the Genesys internal DNC list (created when no list has this name).
    #[arg(long, value_name = "NAME")]
    pub dnc_list: String,
    /// Candidate numbers: one per line, or a CSV with a `phone` or `address` column.
    #[arg(long, value_name = "FILE", group = "source")]
    pub from_file: Vec<PathBuf>,
    /// Candidate numbers: the phone numbers in the address column of every audience in the workspace.
    #[arg(long, group = "source")]
    pub from_audiences: bool,
    /// Show the counts, change nothing in Genesys.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format: `json` prints one object on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `herald sandbox …`
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Serve the Genesys emulator on 127.0.0.1 until Ctrl-C; prints its URL and credentials.
    #[command(
        after_help = "Example:\n  herald sandbox serve --port 8787 --rate-limit 300 --drop-ratio 0.05"
    )]
    Serve(herald_sandbox::ServeArgs),
}

/// Arguments of `herald validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `herald schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Do not write; exit 1 when the files in schema/ differ from the generated ones.
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `herald render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The campaign to preview.
    pub campaign: String,
    /// Show at most this many messages.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
    /// Show only the row with this recipient key.
    #[arg(long, value_name = "KEY")]
    pub recipient: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `herald init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to create the workspace in (default: the current directory).
    pub dir: Option<PathBuf>,
}

/// Plan output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Terminal text (colour on a terminal).
    Text,
    /// The plan document (same as `--out`).
    Json,
    /// Markdown for a pull-request comment.
    Markdown,
}

/// Arguments of `herald plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Save the plan document here, for `herald apply PLAN_FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 2 when there are changes, 0 when there are none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan only this campaign (and its template); repeatable.
    #[arg(long = "campaign", value_name = "NAME")]
    pub campaigns: Vec<String>,
    /// Plan only this template; repeatable.
    #[arg(long = "template", value_name = "NAME")]
    pub templates: Vec<String>,
    /// Plan rows Genesys refused before (`failed`: nothing was delivered) as sends again,
    /// shown as "N failed rows to retry"; apply them with `apply --retry-failed`.
    #[arg(long)]
    pub retry_failed: bool,
}

/// Arguments of `herald preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Directory to write `index.html` into (created when missing).
    #[arg(long, value_name = "DIR", default_value = "preview")]
    pub out: PathBuf,
    /// Show only this campaign (and its template); repeatable.
    #[arg(long = "campaign", value_name = "NAME")]
    pub campaigns: Vec<String>,
    /// Show only this template; repeatable.
    #[arg(long = "template", value_name = "NAME")]
    pub templates: Vec<String>,
}

/// Arguments of `herald apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `herald plan --out`; without it, apply plans first and asks.
    pub plan_file: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal and no plan file is given).
    #[arg(long)]
    pub auto_approve: bool,
    /// Send at most this many messages in this run (a canary).
    #[arg(long, value_name = "N")]
    pub max_sends: Option<u64>,
    /// Re-send `unknown` rows without reconciling them first (at-least-once: may duplicate).
    #[arg(long)]
    pub resend_unknown: bool,
    /// Send rows Genesys refused before (`failed`: nothing was delivered) again, as
    /// `herald plan --retry-failed` showed them; `unknown` rows are never retried by it.
    #[arg(long)]
    pub retry_failed: bool,
    /// Wait this long for another run's lock instead of exiting 4.
    #[arg(long, value_name = "SECS")]
    pub lock_timeout: Option<u64>,
    /// Check the remote template every N batches (1 = before every batch).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub preflight_every: usize,
    /// Output format: `json` streams NDJSON events on stdout (one object per template
    /// write, batch and campaign, then a summary) instead of text and a progress bar.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The same as `--format json` (kept for older pipelines).
    #[arg(long, hide = true)]
    pub json: bool,
    /// Keep running until recipients held by quiet hours or the schedule can be sent (up to 24 h).
    #[arg(long)]
    pub wait: bool,
    /// Apply only this campaign (and its template); repeatable.
    #[arg(long = "campaign", value_name = "NAME")]
    pub campaigns: Vec<String>,
    /// Apply only this template; repeatable.
    #[arg(long = "template", value_name = "NAME")]
    pub templates: Vec<String>,
    /// Refuse (exit 1, nothing sent) a ledger whose chain does not contain this head
    /// (`SEQ:HASH`, as printed by the last apply): a truncated or restored ledger would
    /// re-send, even to suppressed recipients.
    #[arg(long, value_name = "SEQ:HASH", value_parser = parse_head)]
    pub expect_head: Option<herald_ledger::ChainHead>,
    /// Re-plan and apply only if the plan's review digest equals this (`sha256:…`, printed by
    /// `herald plan`); otherwise exit 1 with nothing written or sent. Stands for confirmation.
    #[arg(long, value_name = "DIGEST")]
    pub approved_digest: Option<String>,
    /// The reviewed plan (saved by `herald plan --out`, or the Markdown plan comment), so a
    /// refusal names the objects that changed since the review.
    #[arg(long, value_name = "FILE", requires = "approved_digest")]
    pub approved_plan: Option<PathBuf>,
    /// How long Genesys's 429 answers may pause sending in total before the run stops
    /// (resumably: rerun to continue).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub rate_limit_wait: jiff::SignedDuration,
}

/// Arguments of `herald reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Only this campaign.
    #[arg(long)]
    pub campaign: Option<String>,
    /// How long after a dispatch a conversation must be indexed before "not found" means "not sent".
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub settle_secs: u64,
}

/// Arguments of `herald import`.
#[derive(Debug, Args)]
pub struct ImportTemplatesArgs {
    /// Response names to import.
    pub names: Vec<String>,
    /// Import every campaign template in the managed library.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Output format: `json` prints one object on stdout (imported, not found, refused, the
    /// ledger head).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_take_a_unit_and_must_be_positive() {
        assert_eq!(parse_duration("72h").unwrap().as_secs(), 72 * 3600);
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 7 * 86_400);
        assert_eq!(parse_duration("90m").unwrap().as_secs(), 90 * 60);
        assert_eq!(parse_duration(" 45s ").unwrap().as_secs(), 45);
        for bad in [
            "72",
            "0h",
            "h",
            "3w",
            "1.5h",
            "-1h",
            "9999999999999999d",
            "3 days",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
