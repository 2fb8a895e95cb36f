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

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Workspace directory (the one holding herald.yaml); default: the nearest ancestor of the
    /// current directory that has one.
    #[arg(short = 'C', long = "workspace", global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr (-v, -vv, -vvv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Target environment from herald.yaml (default: `HERALD_ENV`, then `default_environment`).
    #[arg(short, long = "env", global = true, value_name = "ENV")]
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
    /// Write the reviewed templates and send the campaigns, exactly once per recipient row.
    #[command(
        after_help = "Example:\n  herald apply                        # plan, show, ask\n  herald apply --auto-approve         # CI: no prompt\n  herald apply plan.json              # exactly the reviewed plan; stale objects are refused\n  herald apply --max-sends 10         # canary"
    )]
    Apply(ApplyArgs),
    /// Resolve `unknown` sends (maybe sent) through the analytics conversation-details query.
    #[command(
        after_help = "Example:\n  herald reconcile\n  herald reconcile --campaign winter-sale-2026 --settle-secs 900"
    )]
    Reconcile(ReconcileArgs),
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
    /// Inspect the ledger: verify its hash chain, export masked rows, list template history.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Manage the suppression (opt-out / do-not-contact) list.
    #[command(subcommand)]
    Suppress(SuppressCommand),
    /// Run the built-in Genesys Cloud emulator.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
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

/// `herald ledger …`
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check the hash chain and that every row matches it; exit 1 at the first broken link.
    #[command(after_help = "Example:\n  herald ledger verify --env prod")]
    Verify,
    /// Export send rows (masked addresses, no message bodies) as CSV or JSON lines.
    #[command(
        after_help = "Example:\n  herald ledger export --campaign winter-sale-2026 --format csv > sends.csv"
    )]
    Export(ExportArgs),
    /// Template versions written to Genesys, with git commits.
    #[command(after_help = "Example:\n  herald ledger history order-shipped")]
    History(HistoryArgs),
    /// Copy a ledger to another location or backend (e.g. SQLite to PostgreSQL), verified on both sides.
    #[command(
        after_help = "Example:\n  herald ledger migrate --from sqlite:.herald/ledger-prod.db \\\n    --to 'postgres://herald@db.internal/herald?options=-csearch_path%3Dherald_prod'"
    )]
    Migrate(MigrateArgs),
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

/// A channel on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChannelArg {
    /// SMS.
    Sms,
    /// Email.
    Email,
    /// Every channel.
    All,
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
}

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
    /// Wait this long for another run's lock instead of exiting 4.
    #[arg(long, value_name = "SECS")]
    pub lock_timeout: Option<u64>,
    /// Check the remote template every N batches (1 = before every batch).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub preflight_every: usize,
    /// Stream NDJSON events on stdout instead of text and a progress bar.
    #[arg(long)]
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
}

/// Arguments of `herald reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
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
}
