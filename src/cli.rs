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
