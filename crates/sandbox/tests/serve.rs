//! `herald sandbox serve` options and banner.

use clap::Parser;
use herald_sandbox::{ServeArgs, StateLocation, write_banner};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

#[test]
fn serve_flags_map_to_the_config() {
    let cli = Cli::try_parse_from([
        "serve",
        "--port",
        "0",
        "--state",
        "s.db",
        "--seed",
        "7",
        "--rate-limit",
        "0",
        "--fail-5xx",
        "0.25",
        "--drop-ratio",
        "0.5",
        "--latency-ms",
        "3",
        "--token-lifetime",
        "300",
        "--index-delay",
        "9",
    ])
    .unwrap();
    let config = cli.serve.to_config().unwrap();
    assert_eq!(config.state, StateLocation::File("s.db".into()));
    assert_eq!(config.seed, 7);
    assert_eq!(config.rate_limit_per_minute, None, "0 disables the limit");
    assert_eq!(config.token_lifetime_secs, 300);
    assert!((config.faults.error_5xx_ratio - 0.25).abs() < f64::EPSILON);
    assert!((config.faults.drop_ratio - 0.5).abs() < f64::EPSILON);
    assert_eq!(
        (config.faults.latency_ms, config.faults.index_delay_secs),
        (3, 9)
    );

    let defaults = Cli::try_parse_from(["serve"]).unwrap().serve;
    assert_eq!(defaults.port, 8787);
    let config = defaults.to_config().unwrap();
    assert_eq!(config.rate_limit_per_minute, Some(300));
    assert_eq!(config.state, StateLocation::Memory);

    let bad = Cli::try_parse_from(["serve", "--drop-ratio", "1.5"])
        .unwrap()
        .serve;
    assert!(bad.to_config().is_err());
    let no_secret = Cli::try_parse_from(["serve", "--forward-inbound", "http://127.0.0.1:1/x"])
        .unwrap()
        .serve;
    assert!(no_secret.to_config().is_err());
}

#[tokio::test]
async fn banner_names_url_credentials_and_sender() {
    let sb = herald_sandbox::start(
        herald_sandbox::SandboxConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    write_banner(&sb, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with(&sb.base_url()) && sb.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(lines[1], "client_id: herald-sandbox");
    assert_eq!(
        lines[2],
        format!("client_secret: {}", herald_sandbox::DEFAULT_CLIENT_SECRET)
    );
    assert_eq!(lines[3], "from_number: +15550001111");
    sb.shutdown().await;
}
