//! `crmsync check`: is everything in place for a run? Config, Inbox token and budget through
//! the client of the `[inbox] api` in use (on v2 the platforms enabled, on v1 what v1 says of
//! its retirement), CRM source (and, for a CSV export, whether its rows and cells read).

use std::path::Path;

use crate::config::{Config, CrmAdapterConfig};
use crate::crm::csv::CsvAdapter;
use crate::crm::{CrmAdapter, RejectShares};
use crate::engine::{Context, Progress};
use crate::inbox::Inbox;

use super::out::{self, say};
use super::{EXIT_CONFIG, EXIT_ERROR, EXIT_OK};

/// The checks' lines as they are made: `ok` and `FAIL` lines on stdout; under `-q` nothing on
/// success and the failures on one stderr line at the end.
#[derive(Default)]
struct Lines {
    failures: Vec<String>,
}

impl Lines {
    fn ok(&mut self, line: std::fmt::Arguments<'_>) -> Result<(), out::Closed> {
        say!("ok    {line}")
    }

    /// A failed check.
    fn fail(&mut self, line: String) -> Result<(), out::Closed> {
        say!("FAIL  {line}")?;
        self.failures.push(line);
        Ok(())
    }

    /// A line of detail under the last check.
    fn detail(&mut self, line: std::fmt::Arguments<'_>) -> Result<(), out::Closed> {
        say!("      {line}")
    }

    /// The exit code; under `-q`, the one line a failed check prints.
    fn finish(self, code_on_failure: u8) -> u8 {
        if self.failures.is_empty() {
            return EXIT_OK;
        }
        if out::quiet() {
            eprintln!("error: check failed: {}", self.failures.join("; "));
        }
        code_on_failure
    }
}

/// `[mapping.status]` against the team's statuses (`names`, or why they could not be read): a
/// typo would otherwise become a conflict on every prospect with that status.
fn check_status_names(
    lines: &mut Lines,
    config: &Config,
    names: Result<Vec<String>, anyhow::Error>,
) -> Result<(), out::Closed> {
    let mapped = config.mapping.status.len();
    if mapped == 0 {
        return Ok(());
    }
    match names {
        Ok(names) => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let unknown = config.unknown_status_names(&names);
            if unknown.is_empty() {
                lines.ok(format_args!(
                    "[mapping.status]: {mapped} name(s), each an Inbox status"
                ))?;
            }
            for message in unknown {
                lines.fail(format!("[mapping.status]: {message}"))?;
            }
        }
        Err(err) => {
            lines.fail(format!(
                "[mapping.status]: cannot read the Inbox statuses: {err:#}"
            ))?;
        }
    }
    Ok(())
}

/// `; rate limit: N of M requests left in the current window`, when the last answer said.
fn headroom(stats: &crate::inbox::RequestStats) -> String {
    stats
        .last_limit
        .map(|l| {
            format!(
                "; rate limit: {} of {} requests left in the current window",
                l.remaining, l.limit
            )
        })
        .unwrap_or_default()
}

/// The Inbox checks through the client of the `[inbox] api` in use.
async fn check_inbox(lines: &mut Lines, ctx: &Context) -> Result<(), out::Closed> {
    match &ctx.inbox {
        Inbox::V2(client) => check_inbox_v2(lines, ctx, client).await,
        Inbox::V1(client) => check_inbox_v1(lines, ctx, client).await,
    }
}

/// v2: the team, the platforms enabled for it, the status names.
async fn check_inbox_v2(
    lines: &mut Lines,
    ctx: &Context,
    v2: &crate::inbox::v2::Client,
) -> Result<(), out::Closed> {
    let base_url = &ctx.config.inbox.base_url;
    let team = match v2.team().await {
        Ok(team) => team,
        Err(err @ crate::inbox::v2::Error::Unreachable { .. }) => {
            return lines.fail(format!("Inbox: {err}"));
        }
        Err(err) => {
            let err = anyhow::Error::new(err);
            return lines.fail(format!("Inbox at {base_url} (API v2): {err:#}"));
        }
    };
    let headroom = headroom(&v2.stats());
    lines.ok(format_args!(
        "Inbox: team {:?} at {base_url} (API v2){headroom}",
        team.name
    ))?;
    match v2.platforms().await {
        Ok(platforms) if platforms.is_empty() => {
            lines.fail("Inbox platforms: none enabled for the team".to_owned())?;
        }
        Ok(platforms) => {
            let names: Vec<String> = platforms
                .iter()
                .map(|p| format!("{} ({})", p.name, p.platform))
                .collect();
            lines.ok(format_args!("Inbox platforms: {}", names.join(", ")))?;
        }
        Err(err) => {
            let err = anyhow::Error::new(err);
            lines.fail(format!("Inbox platforms: cannot read them: {err:#}"))?;
        }
    }
    if !ctx.config.mapping.status.is_empty() {
        let names = v2.statuses().await.map_err(anyhow::Error::new);
        let names = names.map(|s| s.into_iter().map(|s| s.name).collect());
        check_status_names(lines, &ctx.config, names)?;
    }
    Ok(())
}

/// v1: the team, what v1 says of its own retirement, the status names.
async fn check_inbox_v1(
    lines: &mut Lines,
    ctx: &Context,
    client: &crate::inbox::Client,
) -> Result<(), out::Closed> {
    let base_url = &ctx.config.inbox.base_url;
    let team = match client.team().await {
        Ok(team) => team,
        Err(crate::inbox::Error::Retired) => return lines.fail(crate::inbox::RETIRED.to_owned()),
        // The error names the URL itself when it could not reach it.
        Err(err @ crate::inbox::Error::Unreachable { .. }) => {
            return lines.fail(format!("Inbox: {err}"));
        }
        // With its causes: "failed after 5 attempts" alone does not say what to fix.
        Err(err) => {
            let err = anyhow::Error::new(err);
            return lines.fail(format!("Inbox at {base_url} (API v1): {err:#}"));
        }
    };
    let headroom = headroom(&client.stats());
    lines.ok(format_args!(
        "Inbox: team {:?} at {base_url} (API v1){headroom}",
        team.name
    ))?;
    let retirement = client.retirement();
    if retirement.announced() {
        say!("warn  {}", retirement_line(&retirement, chrono::Utc::now()))?;
    }
    if !ctx.config.mapping.status.is_empty() {
        let names = client.statuses().await.map_err(anyhow::Error::new);
        let names = names.map(|s| s.into_iter().map(|s| s.name).collect());
        check_status_names(lines, &ctx.config, names)?;
    }
    Ok(())
}

/// What v1's `Deprecation` / `Sunset` headers announce, and what to do about it.
fn retirement_line(
    retirement: &crate::inbox::Retirement,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    const MOVE: &str = "set [inbox] api = \"v2\"";
    let Some(sunset) = &retirement.sunset else {
        let deprecation = retirement.deprecation.as_deref().unwrap_or("true");
        return format!("Inbox API v1 is deprecated (Deprecation: {deprecation}): {MOVE}");
    };
    match chrono::DateTime::parse_from_rfc2822(sunset) {
        Ok(date) if date > now => format!(
            "Inbox API v1 is deprecated and stops answering on {} (Sunset: {sunset}): {MOVE} \
             before then",
            date.format("%Y-%m-%d")
        ),
        Ok(date) => format!(
            "Inbox API v1 is past its sunset of {} (Sunset: {sunset}) and may stop answering \
             at any time: {MOVE}",
            date.format("%Y-%m-%d")
        ),
        Err(_) => format!("Inbox API v1 is deprecated and stops answering on {sunset}: {MOVE}"),
    }
}

/// `check` fails when more than this share of the export's rows, or of one column's cells, is
/// rejected: a sync would then leave that much out, which is a config problem (a date or
/// number format) rather than a few bad rows.
const MAX_REJECTED_PERCENT: u64 = 5;

/// Runs every check, printing one line each; exit 0 only when all pass.
pub async fn run(config_path: &Path) -> anyhow::Result<u8> {
    let mut lines = Lines::default();
    let config = match Config::load(config_path) {
        Ok(config) => {
            lines.ok(format_args!("config {}", config_path.display()))?;
            config
        }
        Err(err) => {
            lines.fail(format!("config: {err}"))?;
            return Ok(lines.finish(EXIT_CONFIG));
        }
    };

    match Context::new(config.clone(), Progress::hidden()) {
        Err(err) => {
            lines.fail(format!("Inbox: {err:#}"))?;
        }
        Ok(ctx) => check_inbox(&mut lines, &ctx).await?,
    }

    match &config.crm.adapter {
        CrmAdapterConfig::Csv(csv) => {
            let mut adapter = CsvAdapter::new(csv);
            match adapter.read().await {
                Ok(snapshot) => {
                    let shares = RejectShares::of(&snapshot);
                    let too_many = shares.over(MAX_REJECTED_PERCENT);
                    let summary = format!(
                        "{} records, {} rejected rows, {} rejected values",
                        snapshot.records.len(),
                        shares.rejected_rows,
                        shares.cells.values().sum::<u64>()
                    );
                    if too_many.is_empty() {
                        lines.ok(format_args!(
                            "CRM: {} has every mapped column; {summary}",
                            csv.path.display()
                        ))?;
                    } else {
                        lines.fail(format!(
                            "CRM: {}: {} (more than {MAX_REJECTED_PERCENT} %); {summary}",
                            csv.path.display(),
                            too_many.join(", ")
                        ))?;
                    }
                    for reject in snapshot.rejects.iter().take(5) {
                        lines.detail(format_args!(
                            "rejected {}:{}: {}",
                            reject.source, reject.row, reject.reason
                        ))?;
                    }
                    if let Ok(Some(survey)) = adapter.survey_amounts()
                        && let Some(other) = survey.suggestion()
                    {
                        say!(
                            "warn  CRM: {} valuations read only with decimal_separator = \"{}\" \
                             ({} only with the configured \"{}\"); set [crm.csv] \
                             decimal_separator = \"{}\" if the export writes them that way",
                            survey.only_other,
                            other.as_char(),
                            survey.only_configured,
                            survey.configured.as_char(),
                            other.as_char()
                        )?;
                    }
                }
                Err(err) => {
                    lines.fail(format!("CRM: {err}"))?;
                }
            }
        }
        CrmAdapterConfig::Hubspot(hubspot) => {
            let base_url = &hubspot.base_url;
            let adapter = config
                .hubspot_token()
                .map_err(anyhow::Error::from)
                .and_then(|token| {
                    Ok(crate::crm::hubspot::HubspotAdapter::from_config(
                        &config, token,
                    )?)
                });
            match adapter {
                Err(err) => {
                    lines.fail(format!("CRM: HubSpot: {err:#}"))?;
                }
                Ok(mut adapter) => match adapter.check().await {
                    Ok(summary) => {
                        lines.ok(format_args!("CRM: HubSpot at {base_url}: {summary}"))?
                    }
                    Err(err) => lines.fail(format!("CRM: HubSpot at {base_url}: {err}"))?,
                },
            }
        }
    }
    Ok(lines.finish(EXIT_ERROR))
}

#[cfg(test)]
mod tests {
    use super::retirement_line;
    use crate::inbox::Retirement;

    #[test]
    fn the_retirement_line_names_the_sunset_date_or_says_it_has_passed() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let with = |deprecation: Option<&str>, sunset: Option<&str>| {
            let retirement = Retirement {
                deprecation: deprecation.map(str::to_owned),
                sunset: sunset.map(str::to_owned),
            };
            retirement_line(&retirement, now)
        };
        let coming = with(Some("true"), Some("Thu, 03 Dec 2026 00:00:00 GMT"));
        assert!(coming.contains("stops answering on 2026-12-03"), "{coming}");
        let passed = with(None, Some("Mon, 01 Dec 2025 00:00:00 GMT"));
        assert!(passed.contains("past its sunset of 2025-12-01"), "{passed}");
        let deprecated = with(Some("@1764720000"), None);
        assert!(
            deprecated.contains("(Deprecation: @1764720000)"),
            "{deprecated}"
        );
        let odd = with(None, Some("soon"));
        assert!(odd.contains("stops answering on soon"), "{odd}");
        for line in [coming, passed, deprecated, odd] {
            assert!(line.contains("set [inbox] api = \"v2\""), "{line}");
        }
    }
}
