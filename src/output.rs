//! The one owner of terminal output: results go to stdout, diagnostics and progress to stderr;
//! colour only on a terminal and never with `NO_COLOR`.

use std::io::{IsTerminal, Write};

use crate::cli::{ColorChoice, GlobalArgs};

/// Writes results and messages according to the user's quiet/verbose/colour choices.
#[derive(Debug, Clone)]
pub(crate) struct Printer {
    color_stdout: bool,
    color_stderr: bool,
    quiet: bool,
    verbose: u8,
}

fn want_color(choice: ColorChoice, is_tty: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

impl Printer {
    /// Builds a printer from the global flags and the terminal state.
    pub(crate) fn new(global: &GlobalArgs) -> Self {
        Self {
            color_stdout: want_color(global.color, std::io::stdout().is_terminal()),
            color_stderr: want_color(global.color, std::io::stderr().is_terminal()),
            quiet: global.quiet,
            verbose: global.verbose,
        }
    }

    /// Whether stdout output may carry ANSI colour.
    pub(crate) fn color_stdout(&self) -> bool {
        self.color_stdout
    }

    /// Whether stderr output may carry ANSI colour.
    pub(crate) fn color_stderr(&self) -> bool {
        self.color_stderr
    }

    /// Whether `--quiet` was given.
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// The `-v` count.
    pub(crate) fn verbosity(&self) -> u8 {
        self.verbose
    }

    /// Writes a result to stdout (never suppressed by `--quiet`).
    pub(crate) fn out(&self, text: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        if self.color_stdout {
            out.write_all(text.as_bytes())?;
        } else {
            out.write_all(strip(text).as_bytes())?;
        }
        out.flush()
    }

    /// A byte stream to stdout for streamed results (ledger exports, the sandbox banner):
    /// bytes pass unchanged, for data formats that must not be altered.
    // A method, not a function: stdout is reached only through the printer.
    #[allow(clippy::unused_self)]
    pub(crate) fn stream(&self) -> Stream {
        Stream(())
    }

    /// Writes an informational line to stderr (suppressed by `--quiet`).
    pub(crate) fn info(&self, text: &str) {
        if !self.quiet {
            self.err_raw(text);
        }
    }

    /// Writes a warning line to stderr.
    pub(crate) fn warn(&self, text: &str) {
        let label = self.paint(self.color_stderr, "warning", anstyle::AnsiColor::Yellow);
        self.err_raw(&format!("{label}: {text}"));
    }

    /// Writes an error line to stderr (never suppressed).
    pub(crate) fn error(&self, text: &str) {
        let label = self.paint(self.color_stderr, "error", anstyle::AnsiColor::Red);
        self.err_raw(&format!("{label}: {text}"));
    }

    /// Writes pre-rendered text to stderr, stripping colour when stderr may not have it.
    pub(crate) fn err_raw(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let text = if self.color_stderr {
            text.to_owned()
        } else {
            strip(text)
        };
        // A closed stderr is not worth failing over.
        let _ = writeln!(err, "{text}");
    }

    /// Wraps `text` in a bold colour when `enabled`.
    #[allow(clippy::unused_self)]
    pub(crate) fn paint(&self, enabled: bool, text: &str, color: anstyle::AnsiColor) -> String {
        if enabled {
            let style = anstyle::Style::new().fg_color(Some(color.into())).bold();
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }
}

/// Stdout as a byte stream, from [`Printer::stream`].
#[derive(Debug)]
pub(crate) struct Stream(());

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stdout().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

fn strip(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}

/// Starts logging to stderr: `-v` info, `-vv` debug, `-vvv` trace; `RUST_LOG` overrides.
pub(crate) fn init_tracing(global: &GlobalArgs) {
    let level = match global.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(want_color(global.color, std::io::stderr().is_terminal()))
        .try_init();
}

/// A progress bar on stderr when it is a terminal and output is neither quiet, verbose nor
/// JSON; `None` otherwise.
pub(crate) fn progress_bar(
    printer: &Printer,
    total: u64,
    json: bool,
) -> Option<indicatif::ProgressBar> {
    if json
        || printer.is_quiet()
        || printer.verbosity() > 0
        || total == 0
        || !std::io::stderr().is_terminal()
    {
        return None;
    }
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} messages · {per_sec} · ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(pb)
}
