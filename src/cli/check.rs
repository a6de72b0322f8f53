//! `crmsync check`: is everything in place for a run? Config, Inbox token and budget, CRM source
//! (and, for a CSV export, whether its rows and cells read).

use std::path::Path;

use crate::config::{Config, CrmAdapterConfig};
use crate::crm::csv::CsvAdapter;
use crate::crm::{CrmAdapter, RejectShares};
use crate::engine::{Context, Progress};

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

/// `[mapping.status]` against the team's statuses: a typo would otherwise become a conflict on
/// every prospect with that status.
async fn check_status_names(lines: &mut Lines, ctx: &Context) -> Result<(), out::Closed> {
    let mapped = ctx.config.mapping.status.len();
    if mapped == 0 {
        return Ok(());
    }
    match ctx.client.statuses().await {
        Ok(statuses) => {
            let names: Vec<&str> = statuses.iter().map(|s| s.name.as_str()).collect();
            let unknown = ctx.config.unknown_status_names(&names);
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
            let err = anyhow::Error::new(err);
            lines.fail(format!(
                "[mapping.status]: cannot read the Inbox statuses: {err:#}"
            ))?;
        }
    }
    Ok(())
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
        Ok(ctx) => match ctx.client.team().await {
            Ok(team) => {
                let headroom = ctx
                    .client
                    .stats()
                    .last_limit
                    .map(|l| {
                        format!(
                            "; rate limit: {} of {} requests left in the current window",
                            l.remaining, l.limit
                        )
                    })
                    .unwrap_or_default();
                lines.ok(format_args!(
                    "Inbox: team {:?} at {}{headroom}",
                    team.name, config.inbox.base_url
                ))?;
                check_status_names(&mut lines, &ctx).await?;
            }
            // The error names the URL itself when it could not reach it.
            Err(err @ crate::inbox::Error::Unreachable { .. }) => {
                lines.fail(format!("Inbox: {err}"))?;
            }
            // With its causes: "failed after 5 attempts" alone does not say what to fix.
            Err(err) => {
                let err = anyhow::Error::new(err);
                lines.fail(format!("Inbox at {}: {err:#}", config.inbox.base_url))?;
            }
        },
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
