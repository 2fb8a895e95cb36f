//! Genesys Cloud regions and how their API and login hosts are derived.
//!
//! Owns the region table (SDK region ids → domain) and the `api.` → `login.` host swap the
//! official SDKs use to find the OAuth token endpoint. Invariant: every region's API base is
//! `https://api.<domain>` and its login base is `https://login.<domain>`.

use std::fmt;
use std::str::FromStr;

/// A Genesys Cloud region, named by the SDK region id (`us_east_1`, `eu_west_1`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Region {
    /// US East (Virginia), `mypurecloud.com`.
    UsEast1,
    /// US East 2 (US government), `use2.us-gov-pure.cloud`.
    UsEast2,
    /// US West (Oregon), `usw2.pure.cloud`.
    UsWest2,
    /// Canada (Central), `cac1.pure.cloud`.
    CaCentral1,
    /// South America (São Paulo), `sae1.pure.cloud`.
    SaEast1,
    /// Mexico (Central), `mxc1.pure.cloud`.
    MxCentral1,
    /// EU (Ireland), `mypurecloud.ie`.
    EuWest1,
    /// EU (London), `euw2.pure.cloud`.
    EuWest2,
    /// EU (Frankfurt), `mypurecloud.de`.
    EuCentral1,
    /// EU (Zurich), `euc2.pure.cloud`.
    EuCentral2,
    /// EU sovereign cloud (Germany East), `edee1.eusc-pure.cloud`.
    EuscDeEast1,
    /// Middle East (UAE), `mec1.pure.cloud`.
    MeCentral1,
    /// Asia Pacific (Mumbai), `aps1.pure.cloud`.
    ApSouth1,
    /// Asia Pacific (Singapore), `apse1.pure.cloud`.
    ApSoutheast1,
    /// Asia Pacific (Sydney), `mypurecloud.com.au`.
    ApSoutheast2,
    /// Asia Pacific (Tokyo), `mypurecloud.jp`.
    ApNortheast1,
    /// Asia Pacific (Seoul), `apne2.pure.cloud`.
    ApNortheast2,
    /// Asia Pacific (Osaka), `apne3.pure.cloud`.
    ApNortheast3,
}

/// Every region with its SDK id and domain, in the order of the reference table.
const TABLE: &[(Region, &str, &str)] = &[
    (Region::UsEast1, "us_east_1", "mypurecloud.com"),
    (Region::UsEast2, "us_east_2", "use2.us-gov-pure.cloud"),
    (Region::UsWest2, "us_west_2", "usw2.pure.cloud"),
    (Region::CaCentral1, "ca_central_1", "cac1.pure.cloud"),
    (Region::SaEast1, "sa_east_1", "sae1.pure.cloud"),
    (Region::MxCentral1, "mx_central_1", "mxc1.pure.cloud"),
    (Region::EuWest1, "eu_west_1", "mypurecloud.ie"),
    (Region::EuWest2, "eu_west_2", "euw2.pure.cloud"),
    (Region::EuCentral1, "eu_central_1", "mypurecloud.de"),
    (Region::EuCentral2, "eu_central_2", "euc2.pure.cloud"),
    (
        Region::EuscDeEast1,
        "eusc_de_east_1",
        "edee1.eusc-pure.cloud",
    ),
    (Region::MeCentral1, "me_central_1", "mec1.pure.cloud"),
    (Region::ApSouth1, "ap_south_1", "aps1.pure.cloud"),
    (Region::ApSoutheast1, "ap_southeast_1", "apse1.pure.cloud"),
    (Region::ApSoutheast2, "ap_southeast_2", "mypurecloud.com.au"),
    (Region::ApNortheast1, "ap_northeast_1", "mypurecloud.jp"),
    (Region::ApNortheast2, "ap_northeast_2", "apne2.pure.cloud"),
    (Region::ApNortheast3, "ap_northeast_3", "apne3.pure.cloud"),
];

impl Region {
    /// All regions, in the order of the reference table.
    pub fn all() -> impl Iterator<Item = Region> {
        TABLE.iter().map(|(r, _, _)| *r)
    }

    fn entry(self) -> &'static (Region, &'static str, &'static str) {
        TABLE
            .iter()
            .find(|(r, _, _)| *r == self)
            .expect("every region is in the table")
    }

    /// The SDK region id, e.g. `us_east_1`.
    pub fn id(self) -> &'static str {
        self.entry().1
    }

    /// The region's domain, e.g. `mypurecloud.com`.
    pub fn domain(self) -> &'static str {
        self.entry().2
    }

    /// The API base URL, e.g. `https://api.mypurecloud.com`.
    pub fn api_base(self) -> String {
        format!("https://api.{}", self.domain())
    }

    /// The login (OAuth) base URL, e.g. `https://login.mypurecloud.com`.
    pub fn login_base(self) -> String {
        format!("https://login.{}", self.domain())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A region id that is not in the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown Genesys Cloud region `{given}` (expected one of: {})",
    known_ids()
)]
pub struct UnknownRegion {
    /// What was given.
    pub given: String,
}

fn known_ids() -> String {
    TABLE
        .iter()
        .map(|(_, id, _)| *id)
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Region {
    type Err = UnknownRegion;

    /// Parses an SDK region id; `-` is accepted for `_` and case is ignored (`US-EAST-1`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalised = s.trim().to_ascii_lowercase().replace('-', "_");
        TABLE
            .iter()
            .find(|(_, id, _)| *id == normalised)
            .map(|(r, _, _)| *r)
            .ok_or_else(|| UnknownRegion {
                given: s.to_owned(),
            })
    }
}

/// Derives the login base URL from an API base URL the way the SDKs do: `//api.` becomes
/// `//login.`; a base without an `api.` host prefix (a sandbox or gateway) is its own login host.
pub fn login_base_for(api_base: &str) -> String {
    let trimmed = api_base.trim_end_matches('/');
    match trimmed.find("//api.") {
        Some(at) => format!(
            "{}//login.{}",
            &trimmed[..at],
            &trimmed[at + "//api.".len()..]
        ),
        None => trimmed.to_owned(),
    }
}

/// Where an API base URL points, for deciding whether it may receive the client secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseUrlHost {
    /// `https://api.<domain>` of a known region (default port, no user info).
    Genesys(Region),
    /// `http` or `https` to this machine: `127.0.0.0/8`, `::1` or `localhost` (a sandbox).
    Loopback,
    /// Any other `https` host (a gateway or proxy the operator chose).
    OtherHttps,
    /// Any other host over plain `http` (the secret would cross the network in clear text).
    OtherHttp,
}

/// A base URL that cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a usable API base URL: {reason}")]
pub struct BadBaseUrl {
    /// What was given.
    pub given: String,
    /// Why it cannot be used.
    pub reason: &'static str,
}

/// Classifies an API base URL by host: a Genesys Cloud region's API host over `https`, this
/// machine, or anything else. Never resolves a name (no network access); `localhost` is taken
/// by name. Only `http` and `https` are accepted, with no user info, query or fragment.
pub fn classify_base_url(url: &str) -> Result<BaseUrlHost, BadBaseUrl> {
    let bad = |reason| BadBaseUrl {
        given: url.to_owned(),
        reason,
    };
    let parsed = reqwest::Url::parse(url.trim()).map_err(|_| bad("it is not a valid URL"))?;
    let https = match parsed.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(bad("the scheme must be https (or http to this machine)")),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("it must not carry a user name or password"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("it must not carry a query or fragment"));
    }
    let host = parsed.host_str().ok_or_else(|| bad("it has no host"))?;
    let loopback = match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    };
    if loopback {
        return Ok(BaseUrlHost::Loopback);
    }
    if https
        && parsed.port().is_none()
        && let Some(region) = Region::all().find(|r| {
            host.strip_prefix("api.")
                .is_some_and(|rest| rest.eq_ignore_ascii_case(r.domain()))
        })
    {
        return Ok(BaseUrlHost::Genesys(region));
    }
    Ok(if https {
        BaseUrlHost::OtherHttps
    } else {
        BaseUrlHost::OtherHttp
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_eighteen_distinct_regions_that_round_trip() {
        let all: Vec<Region> = Region::all().collect();
        assert_eq!(all.len(), 18);
        for r in &all {
            assert_eq!(r.id().parse::<Region>().unwrap(), *r);
            assert_eq!(r.to_string(), r.id());
        }
        let mut domains: Vec<&str> = all.iter().map(|r| r.domain()).collect();
        domains.sort_unstable();
        domains.dedup();
        assert_eq!(domains.len(), 18, "domains must be distinct");
    }

    #[test]
    fn known_region_urls() {
        assert_eq!(Region::UsEast1.api_base(), "https://api.mypurecloud.com");
        assert_eq!(
            Region::UsEast1.login_base(),
            "https://login.mypurecloud.com"
        );
        assert_eq!(
            Region::ApNortheast3.api_base(),
            "https://api.apne3.pure.cloud"
        );
        assert_eq!(Region::EuWest1.api_base(), "https://api.mypurecloud.ie");
        assert_eq!(
            Region::EuscDeEast1.api_base(),
            "https://api.edee1.eusc-pure.cloud"
        );
    }

    #[test]
    fn parse_is_lenient_about_case_and_dashes_but_rejects_unknown() {
        assert_eq!("US-WEST-2".parse::<Region>().unwrap(), Region::UsWest2);
        let err = "mars_north_1".parse::<Region>().unwrap_err();
        assert!(err.to_string().contains("mars_north_1"));
        assert!(err.to_string().contains("ap_northeast_3"));
    }

    #[test]
    fn login_base_swaps_api_host_or_keeps_sandbox_host() {
        assert_eq!(
            login_base_for("https://api.usw2.pure.cloud/"),
            "https://login.usw2.pure.cloud"
        );
        assert_eq!(
            login_base_for("http://127.0.0.1:8787"),
            "http://127.0.0.1:8787"
        );
        for r in Region::all() {
            assert_eq!(login_base_for(&r.api_base()), r.login_base());
        }
    }
}

#[cfg(test)]
mod base_url_tests {
    use super::*;

    #[test]
    fn genesys_region_hosts_over_https_only() {
        for r in Region::all() {
            assert_eq!(
                classify_base_url(&r.api_base()),
                Ok(BaseUrlHost::Genesys(r))
            );
            assert_eq!(
                classify_base_url(&format!("{}/", r.api_base())),
                Ok(BaseUrlHost::Genesys(r))
            );
        }
        assert_eq!(
            classify_base_url("https://API.MyPureCloud.com"),
            Ok(BaseUrlHost::Genesys(Region::UsEast1))
        );
        // Look-alikes are other hosts.
        for url in [
            "https://api.mypurecloud.com.evil.example",
            "https://evilapi.mypurecloud.com",
            "https://login.mypurecloud.com",
            "https://mypurecloud.com",
            "https://api.mypurecloud.com:8443",
            "https://evil.example",
        ] {
            assert_eq!(classify_base_url(url), Ok(BaseUrlHost::OtherHttps), "{url}");
        }
        assert_eq!(
            classify_base_url("http://api.mypurecloud.com"),
            Ok(BaseUrlHost::OtherHttp)
        );
        assert_eq!(
            classify_base_url("http://attacker.example"),
            Ok(BaseUrlHost::OtherHttp)
        );
    }

    #[test]
    fn loopback_hosts_are_this_machine() {
        for url in [
            "http://127.0.0.1:8787",
            "https://127.0.0.1:8787",
            "http://127.3.4.5",
            "http://[::1]:9000/",
            "http://localhost:8787",
            "http://LOCALHOST",
        ] {
            assert_eq!(classify_base_url(url), Ok(BaseUrlHost::Loopback), "{url}");
        }
        for url in [
            "http://128.0.0.1",
            "http://10.0.0.1",
            "http://localhost.evil.example",
        ] {
            assert_eq!(classify_base_url(url), Ok(BaseUrlHost::OtherHttp), "{url}");
        }
    }

    #[test]
    fn spellings_that_could_pass_for_a_region_or_this_machine_are_other_hosts() {
        // A trailing dot, an IDN look-alike (Cyrillic `у`), a region host under another
        // domain: other https hosts (allowed only from HERALD_BASE_URL).
        for url in [
            "https://api.mypurecloud.com.",
            "https://api.mypurecloud.com.:443",
            "https://api.mуpurecloud.com",
            "https://api.mypurecloud.com.nip.io",
        ] {
            assert_eq!(classify_base_url(url), Ok(BaseUrlHost::OtherHttps), "{url}");
        }
        // Names that resolve to this machine through DNS, and an IPv4-mapped IPv6 address,
        // are not taken for loopback: only literal loopback addresses and `localhost` are.
        for url in [
            "http://127.0.0.1.nip.io",
            "http://localhost.",
            "http://[::ffff:7f00:1]",
            "http://[::ffff:127.0.0.1]:8787",
        ] {
            assert_eq!(classify_base_url(url), Ok(BaseUrlHost::OtherHttp), "{url}");
        }
        // Other spellings of a loopback address are loopback.
        for url in ["http://127.1", "http://0x7f.0.0.1", "http://2130706433"] {
            assert_eq!(classify_base_url(url), Ok(BaseUrlHost::Loopback), "{url}");
        }
    }

    #[test]
    fn unusable_urls_are_refused() {
        for url in [
            "not a url",
            "ftp://api.mypurecloud.com",
            "file:///etc/passwd",
            "https://user:pw@api.mypurecloud.com",
            "https://api.mypurecloud.com@evil.example",
            "https://api.mypurecloud.com/?x=1",
        ] {
            assert!(classify_base_url(url).is_err(), "{url}");
        }
    }
}
